#pragma once
// /etc/rexecd/rexecd.conf: TOML (read with toml++), whose keys are rexecd's long command-line
// options without the dashes, '-' written as '_' (listen = ["0.0.0.0:5512"], max_argc = 4096).
// So every option can live in the file, with the same validation, and the command line wins.
#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

namespace rx {

// Options that make no sense in a file (actions, or the file itself).
inline const std::vector<std::string> kNotInConfig{"--help", "--config", "--check-config", "--init-host-key",
                                                   "--print-fingerprint"};

struct ConfigWords {
  std::vector<std::string> words;            // e.g. {"--max-argc", "4096", "--listen", "a:1"}
  std::map<std::string, std::string> where;  // option name -> "FILE:LINE"
  std::vector<std::string> problems;         // every bad key, as "FILE:LINE:COLUMN: ..."
};

// Turns the file into command-line words for `app`'s options, skipping options that `app`
// already has results for (given on the command line). A missing file is a problem unless
// `optional`.
ConfigWords configFileWords(const std::string& path, const CLI::App& app, bool optional);

}  // namespace rx
