// Mode pages of the block LU (SPC-4 7.5, SBC-3 6.5): current, changeable and default values,
// MODE SENSE page assembly and MODE SELECT validation. Pure: no I/O, no task.
//
// Pages: Read-Write Error Recovery (01h), Caching (08h), Control (0Ah), Informational
// Exceptions Control (1Ch). Saved values are not implemented. Thread-safe.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "core/scsi/sense.h"

namespace stmf::sbd {

enum class PageControl : uint8_t { current = 0, changeable = 1, default_values = 2, saved = 3 };

class ModePages {
 public:
  static constexpr uint8_t kAllPages = 0x3f;
  static constexpr uint8_t kAllSubpages = 0xff;

  explicit ModePages(bool write_cache_enabled);

  // Appends the page(s) selected by page code / subpage code (0x3F and 0xFF select all) for
  // the page control value. Returns false when nothing matches (INVALID FIELD IN CDB).
  bool append(uint8_t page, uint8_t subpage, PageControl pc, std::vector<uint8_t>& out) const;

  // True when the page code names an implemented page (or all pages).
  bool has_page(uint8_t page) const;
  // Back to the default values (hard reset: logical unit reset, target reset).
  void reset();

  // Validates the mode pages of a MODE SELECT parameter list (the bytes after the header and
  // block descriptors) and applies them all or none. `base` is the offset of `pages` in the
  // parameter list, for sense-key-specific field pointers. Sets `changed` when a current
  // value changed.
  std::optional<scsi::SenseCode> select(const uint8_t* pages, size_t len, size_t base, bool& changed);

  // Management changed the write cache setting: default and current WCE follow.
  void set_default_wce(bool on);

  // Current values the LU acts on (lock-free reads for the I/O path).
  bool wce() const { return wce_.load(std::memory_order_relaxed); }
  bool d_sense() const { return d_sense_.load(std::memory_order_relaxed); }
  bool swp() const { return swp_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kMaxLen = 20;
  struct Def {
    uint8_t page;
    uint8_t subpage;
    uint8_t length;  // whole page, header included
    std::array<uint8_t, kMaxLen> defaults;
    std::array<uint8_t, kMaxLen> changeable;
  };
  static const std::array<Def, 4>& defs();
  void publish_locked();

  mutable std::mutex mu_;
  std::array<std::array<uint8_t, kMaxLen>, 4> current_{};
  std::array<std::array<uint8_t, kMaxLen>, 4> defaults_{};
  std::atomic<bool> wce_{true}, d_sense_{false}, swp_{false};
};

}  // namespace stmf::sbd
