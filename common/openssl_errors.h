#pragma once
// OpenSSL's queued errors as one line of text, for our error messages.
//
// OpenSSL 3.0 loads the text of all its ~3,000 error reasons into a hash table the first time any
// thread touches its error queue, which every SSL_CTX_new does: 1.05 M of the one-shot client's
// 9.8 M instructions per command, and 19 of its 309 page faults (callgrind, perf stat). The client
// turns that off at start-up (OPENSSL_INIT_NO_LOAD_*_STRINGS, client/main.cc), and the text of
// the libraries our errors come from is loaded here instead, on the error path only, so that a
// message still says "SSL routines::wrong version number" rather than "lib(20)::reason(267)".
#include <string>

namespace rx {

// Takes (clears) the calling thread's OpenSSL error queue: "error:...; error:...", or
// "unknown OpenSSL error" when it is empty.
std::string opensslErrors();

}  // namespace rx
