#include "common/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/auth_proof.h"
#include "common/encoding.h"
#include "common/file_perms.h"
#include "common/limits.h"

namespace rx {
namespace {

constexpr size_t kMaxKeyFileSize = 64 * 1024;
constexpr size_t kMaxAuthorizedKeysSize = 4 * 1024 * 1024;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string_view nextToken(std::string_view& s) {
  s = trim(s);
  size_t end = 0;
  while (end < s.size() && s[end] != ' ' && s[end] != '\t') ++end;
  std::string_view tok = s.substr(0, end);
  s.remove_prefix(end);
  return tok;
}

template <typename F>
Status forEachLine(std::string_view text, F&& f) {
  int number = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++number;
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    if (Status s = f(line, number); !s) return s;
  }
  return Status::Ok();
}

}  // namespace

std::string keyIdFor(std::string_view secret) {
  std::string input("rexec key id\0", 13);
  input.append(secret);
  return "hmac-" + toHex(sha256(input)).substr(0, 24);
}

HmacKey generateHmacKey(std::string comment) {
  HmacKey key;
  key.secret = randomBytes(kHmacKeySize);
  key.key_id = keyIdFor(key.secret);
  key.comment = std::move(comment);
  return key;
}

std::string formatKeyLine(const HmacKey& key) {
  std::string line = fmt::format("{} {}", kHmacKeyType, base64Encode(key.secret));
  if (!key.comment.empty()) line += " " + key.comment;
  return line;
}

Status parseKeyLine(std::string_view line, HmacKey& key) {
  const std::string_view type = nextToken(line);
  if (type != kHmacKeyType) {
    return Status::Error(fmt::format("unknown key type {} (expected {})", quoteForLog(type), kHmacKeyType));
  }
  const std::string_view b64 = nextToken(line);
  if (b64.empty()) return Status::Error("missing key after the key type");
  auto secret = base64Decode(b64);
  if (!secret) return Status::Error("the key is not valid base64");
  if (secret->size() != kHmacKeySize) {
    return Status::Error(fmt::format("the key has {} bytes, expected {}", secret->size(), kHmacKeySize));
  }
  key.secret = std::move(*secret);
  key.key_id = keyIdFor(key.secret);
  key.comment = std::string(trim(line));
  return Status::Ok();
}

Status loadKeyFile(const std::string& path, HmacKey& key) {
  std::string text;
  if (Status s = readPrivateFile(path, kMaxKeyFileSize, text); !s) return s;
  int found = 0;
  Status s = forEachLine(text, [&](std::string_view line, int number) {
    if (++found > 1) return Status::Error(fmt::format("{}:{}: more than one key", path, number));
    if (Status p = parseKeyLine(line, key); !p)
      return Status::Error(fmt::format("{}:{}: {}", path, number, p.message()));
    return Status::Ok();
  });
  if (!s) return s;
  if (found == 0) return Status::Error(fmt::format("{}: no key in the file", path));
  return Status::Ok();
}

Status loadAuthorizedKeys(const std::string& path, std::vector<AuthorizedKey>& keys) {
  std::string text;
  if (Status s = readPrivateFile(path, kMaxAuthorizedKeysSize, text); !s) return s;
  std::vector<AuthorizedKey> parsed;
  Status s = forEachLine(text, [&](std::string_view line, int number) {
    AuthorizedKey ak;
    ak.line = number;
    if (Status p = parseKeyLine(line, ak.key); !p)
      return Status::Error(fmt::format("{}:{}: {}", path, number, p.message()));
    parsed.push_back(std::move(ak));
    return Status::Ok();
  });
  if (!s) return s;
  keys = std::move(parsed);
  return Status::Ok();
}

Status writeKeyFile(const std::string& path, const HmacKey& key) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::Error(fmt::format("{}: {}", path, std::strerror(errno)));
  // The umask could only narrow 0600, but be explicit: the file must be exactly 0600.
  ::fchmod(fd, 0600);
  const std::string text = "# rexec secret key: keep it private\n" + formatKeyLine(key) + "\n";
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return Status::Error(fmt::format("{}: {}", path, std::strerror(err)));
    }
    off += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int sync_errno = errno;
  if (::close(fd) != 0 || !synced)
    return Status::Error(fmt::format("{}: {}", path, std::strerror(synced ? errno : sync_errno)));
  return Status::Ok();
}

}  // namespace rx
