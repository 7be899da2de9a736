// The one size grammar of the management plane: the configuration file (mgmt/config.cpp, and
// "size" strings in management requests, mgmt/ops.cpp), stmfadm's size options and libstmf's
// STMF_LU_PROP_SIZE all parse sizes here (docs/configuration.md "Sizes").
//
//   size   = number [unit]
//   number = 1*DIGIT                        ; with SizeRules::fractions also "1.5", "1.", ".5"
//   unit   = "B" | mult ["B" | "iB"]        ; case-insensitive, but see SizeRules::lowercase_b
//   mult   = "K" | "M" | "G" | "T" | "P" | "E"   ; binary: 2^10, 2^20, ... 2^60
//
// "4096", "1k", "1K", "1KB", "1KiB", "512M", "1g", "1GiB", "2T" and "1e" are sizes; "", "-1",
// " 1g", "1.5g" (unless fractions are allowed), "1gb2", "GiB" and anything whose value does not
// fit 64 bits are not.
//
// Two leniencies are kept where they always were, so that no input accepted before is refused:
// stmfadm and libstmf take a lowercase "b" ("1gb", "4096b"; the configuration file and
// management requests refuse it: "1Gb" may mean gigabits), and libstmf takes a decimal fraction
// ("1.5t", as COMSTAR's stmfSetLuProp does).
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace stmf::mgmt {

struct SizeRules {
  bool fractions = false;    // "1.5t" (truncated to whole bytes): libstmf
  bool lowercase_b = false;  // "1gb", "4096b": stmfadm and libstmf
};
inline constexpr SizeRules kStmfadmSizes{.fractions = false, .lowercase_b = true};
inline constexpr SizeRules kLibstmfSizes{.fractions = true, .lowercase_b = true};

// Bytes, or nullopt when `s` is not a size (malformed, or over 2^64-1). The default rules are
// the configuration file's (and management requests').
std::optional<uint64_t> parse_size(std::string_view s, SizeRules rules = {});

}  // namespace stmf::mgmt
