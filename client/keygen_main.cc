// rexec-keygen: makes a new key file (mode 0600) and prints the line for the daemon's
// authorized keys file.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "client/options.h"
#include "common/key_file.h"

int main(int argc, char** argv) {
  CLI::App app{"rexec-keygen: make a new rexec key", "rexec-keygen"};
  std::string file = rx::defaultIdentityPath();
  std::string comment;
  std::string type = "ed25519";
  app.add_option("-t,--type", type,
                 "ed25519 (the server stores only the public key) or hmac-sha256 (a shared secret)")
      ->check(CLI::IsMember({"ed25519", "hmac-sha256"}))
      ->capture_default_str();
  app.add_option("-f,--file", file, "where to write the key (must not exist)")->capture_default_str();
  app.add_option("-C,--comment", comment, "a comment stored with the key (e.g. user@host)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (comment.empty()) {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    const char* user = std::getenv("USER");
    comment = std::string(user ? user : "user") + "@" + host;
  }
  for (char c : comment) {
    if (c == '\n' || c == '\r' || c == '\0') {
      std::fprintf(stderr, "rexec-keygen: the comment must be one line\n");
      return 1;
    }
  }
  // Create the parent folder (as ~/.config/rexec) private, if it is missing.
  if (const size_t slash = file.rfind('/'); slash != std::string::npos && slash > 0) {
    const std::string dir = file.substr(0, slash);
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0 && mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      std::fprintf(stderr, "rexec-keygen: %s: %s\n", dir.c_str(), std::strerror(errno));
      return 1;
    }
  }
  const rx::ClientKey key =
      rx::generateKey(type == "ed25519" ? rx::KeyType::Ed25519 : rx::KeyType::HmacSha256, comment);
  if (auto s = rx::writeKeyFile(file, key); !s) {
    std::fprintf(stderr, "rexec-keygen: %s\n", s.message().c_str());
    return 1;
  }
  std::fprintf(stderr,
               "rexec-keygen: wrote %s (key id %s); append this line to the daemon's authorized keys:\n",
               file.c_str(), key.key_id.c_str());
  std::printf("%s\n", rx::authorizedLine(key).c_str());
  return 0;
}
