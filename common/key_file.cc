#include "common/key_file.h"

#include <openssl/crypto.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/auth_proof.h"
#include "common/encoding.h"
#include "common/file_perms.h"
#include "common/limits.h"

namespace rx {
namespace {

constexpr size_t kMaxKeyFileSize = 64 * 1024;
constexpr size_t kMaxAuthorizedKeysSize = 4 * 1024 * 1024;
constexpr size_t kKeyBytes = 32;

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

// The options field ends at the first blank outside double quotes; `unterminated` says whether
// it ran to the end of the line inside quotes.
std::string_view optionsToken(std::string_view& s, bool& unterminated) {
  s = trim(s);
  bool quoted = false;
  size_t end = 0;
  for (; end < s.size(); ++end) {
    if (s[end] == '\\' && quoted && end + 1 < s.size()) {
      ++end;
    } else if (s[end] == '"') {
      quoted = !quoted;
    } else if (!quoted && (s[end] == ' ' || s[end] == '\t')) {
      break;
    }
  }
  unterminated = quoted;
  std::string_view tok = s.substr(0, end);
  s.remove_prefix(end);
  return tok;
}

Status decodeKey(std::string_view b64, std::string& out) {
  if (b64.empty()) return Status::Error("missing key after the key type");
  auto bytes = base64Decode(b64);
  if (!bytes) return Status::Error("the key is not valid base64");
  if (bytes->size() != kKeyBytes)
    return Status::Error(fmt::format("the key has {} bytes, expected {}", bytes->size(), kKeyBytes));
  out = std::move(*bytes);
  return Status::Ok();
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

std::string keyIdFor(KeyType type, std::string_view public_material) {
  std::string input("rexec key id\0", 13);
  input.append(public_material);
  return (type == KeyType::Ed25519 ? "ed25519-" : "hmac-") + toHex(sha256(input)).substr(0, 24);
}

ClientKey generateKey(KeyType type, std::string comment) {
  ClientKey key;
  key.type = type;
  key.secret = randomBytes(kKeyBytes);
  if (type == KeyType::Ed25519) key.public_key = ed25519PublicKey(key.secret);
  key.key_id = keyIdFor(type, type == KeyType::Ed25519 ? key.public_key : key.secret);
  key.comment = std::move(comment);
  return key;
}

std::string authorizedLine(const ClientKey& key) {
  std::string line = key.type == KeyType::Ed25519
                         ? fmt::format("{} {}", kEd25519Type, base64Encode(key.public_key))
                         : fmt::format("{} {}", kHmacKeyType, base64Encode(key.secret));
  if (!key.comment.empty()) line += " " + key.comment;
  return line;
}

std::string privateLine(const ClientKey& key) {
  std::string line = fmt::format("{} {}", key.type == KeyType::Ed25519 ? kEd25519PrivateType : kHmacKeyType,
                                 base64Encode(key.secret));
  if (!key.comment.empty()) line += " " + key.comment;
  return line;
}

void completeKey(ClientKey& key) {
  if (key.type == KeyType::Ed25519 && !key.signing_key) {
    key.signing_key = ed25519SigningKey(key.secret);
    key.public_key = ed25519PublicKey(key.signing_key.get());
  }
  if (!key.key_id.empty()) return;
  if (key.type != KeyType::Ed25519) key.public_key.clear();
  key.key_id = keyIdFor(key.type, key.type == KeyType::Ed25519 ? key.public_key : key.secret);
}

Status parsePrivateLine(std::string_view line, ClientKey& key, KeyDerivation when) {
  const std::string_view type = nextToken(line);
  if (type == kEd25519PrivateType) {
    key.type = KeyType::Ed25519;
  } else if (type == kHmacKeyType) {
    key.type = KeyType::HmacSha256;
  } else if (type == kEd25519Type) {
    return Status::Error("this is a public key (an authorized keys line), not a private key file");
  } else {
    return Status::Error(fmt::format("unknown key type {} (expected {} or {})", quoteForLog(type),
                                     kEd25519PrivateType, kHmacKeyType));
  }
  if (Status s = decodeKey(nextToken(line), key.secret); !s) return s;
  key.public_key.clear();
  key.key_id.clear();
  if (when == KeyDerivation::Now) completeKey(key);
  key.comment = std::string(trim(line));
  return Status::Ok();
}

Status parseAuthorizedLine(std::string_view line, AuthorizedKey& key) {
  std::string_view rest = line;
  std::string_view type = nextToken(rest);
  if (type == kEd25519PrivateType)
    return Status::Error("a private key does not belong in the authorized keys file");
  std::string_view options;
  bool after_options = false;
  if (type != kEd25519Type && type != kHmacKeyType) {
    // Not a key type: an options field, as in OpenSSH's authorized_keys.
    rest = line;
    bool unterminated = false;
    options = optionsToken(rest, unterminated);
    if (unterminated) return Status::Error("the options field has an unclosed double quote");
    type = nextToken(rest);
    after_options = true;
  }
  if (type == kEd25519Type) {
    key.type = KeyType::Ed25519;
  } else if (type == kHmacKeyType) {
    key.type = KeyType::HmacSha256;
  } else if (type == kEd25519PrivateType) {
    return Status::Error("a private key does not belong in the authorized keys file");
  } else if (after_options) {
    // Never echo this word: on a line with a misspelt type it is the key itself (maybe a secret).
    return Status::Error(fmt::format("unknown key type (expected {} or {}, optionally after options)",
                                     kEd25519Type, kHmacKeyType));
  } else {
    return Status::Error(fmt::format("unknown key type {} (expected {} or {})", quoteForLog(type),
                                     kEd25519Type, kHmacKeyType));
  }
  if (Status s = decodeKey(nextToken(rest), key.material); !s) return s;
  if (Status s = parseKeyOptions(options, key.options); !s) return s;
  key.key_id = keyIdFor(key.type, key.material);
  key.comment = std::string(trim(rest));
  return Status::Ok();
}

Status loadKeyFile(const std::string& path, ClientKey& key, KeyDerivation when) {
  std::string text;
  if (Status s = readPrivateFile(path, kMaxKeyFileSize, text); !s) return s;
  // The file's text holds the secret too; do not leave it in freed memory.
  struct Wipe {
    std::string& s;
    ~Wipe() { OPENSSL_cleanse(s.data(), s.size()); }
  } wipe{text};
  int found = 0;
  Status s = forEachLine(text, [&](std::string_view line, int number) {
    if (++found > 1) return Status::Error(fmt::format("{}:{}: more than one key", path, number));
    if (Status p = parsePrivateLine(line, key, when); !p)
      return Status::Error(fmt::format("{}:{}: {}", path, number, p.message()));
    return Status::Ok();
  });
  if (!s) return s;
  if (found == 0) return Status::Error(fmt::format("{}: no key in the file", path));
  return Status::Ok();
}

Status loadAuthorizedKeys(const std::string& path, std::vector<AuthorizedKey>& keys) {
  std::string text;
  mode_t mode = 0;
  if (Status s = readCheckedFile(path, kMaxAuthorizedKeysSize, FileAccess::NotWritable, text, &mode); !s)
    return s;
  std::vector<AuthorizedKey> parsed;
  Status s = forEachLine(text, [&](std::string_view line, int number) {
    AuthorizedKey ak;
    ak.line = number;
    if (Status p = parseAuthorizedLine(line, ak); !p)
      return Status::Error(fmt::format("{}:{}: {}", path, number, p.message()));
    if (ak.type == KeyType::HmacSha256 && (mode & 077) != 0)
      return Status::Error(fmt::format(
          "{}:{}: an hmac-sha256 key is a shared secret, but the file has permissions {:04o}; chmod 600 {}",
          path, number, mode, path));
    if (ak.options.user) {
      if (Status u = checkMayRunAs(*ak.options.user, ::geteuid()); !u)
        return Status::Error(fmt::format("{}:{}: {}", path, number, u.message()));
    }
    parsed.push_back(std::move(ak));
    return Status::Ok();
  });
  if (!s) return s;
  keys = std::move(parsed);
  return Status::Ok();
}

Status writeKeyFile(const std::string& path, const ClientKey& key) {
  return writeNewPrivateFile(path, "# rexec secret key: keep it private\n" + privateLine(key) + "\n");
}

}  // namespace rx
