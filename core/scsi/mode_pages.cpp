#include "core/scsi/mode_pages.h"

#include "core/scsi/cdb.h"

namespace stmf::sbd {

namespace {
using scsi::sense::invalid_field_in_parameter_list;
using scsi::sense::parameter_list_length_error;
constexpr size_t kCaching = 1, kControl = 2;
}  // namespace

const std::array<ModePages::Def, 4>& ModePages::defs() {
  static const std::array<Def, 4> d = {{
      // Read-Write Error Recovery (SBC-3 6.5.8): nothing settable.
      {0x01, 0x00, 12, {0x01, 0x0a}, {}},
      // Caching (SBC-3 6.5.5): WCE (byte 2 bit 2) and RCD (bit 0) changeable.
      {0x08, 0x00, 20, {0x08, 0x12}, {0, 0, 0x05}},
      // Control (SPC-4 7.5.8): TST 000b, QAM 1h (unrestricted reordering), QERR 00b;
      // D_SENSE (byte 2 bit 2) and SWP (byte 4 bit 3) changeable. Busy timeout unlimited.
      {0x0a, 0x00, 12, {0x0a, 0x0a, 0x00, 0x10, 0x00, 0x00, 0, 0, 0xff, 0xff, 0, 0}, {0, 0, 0x04, 0, 0x08}},
      // Informational Exceptions Control (SPC-4 7.5.12): DEXCPT set, nothing settable.
      {0x1c, 0x00, 12, {0x1c, 0x0a, 0x08}, {}},
  }};
  return d;
}

ModePages::ModePages(bool write_cache_enabled) {
  const auto& d = defs();
  for (size_t i = 0; i < d.size(); ++i) defaults_[i] = d[i].defaults;
  if (write_cache_enabled) defaults_[kCaching][2] |= 0x04;
  current_ = defaults_;
  std::lock_guard lk(mu_);
  publish_locked();
}

void ModePages::publish_locked() {
  wce_.store(current_[kCaching][2] & 0x04, std::memory_order_relaxed);
  d_sense_.store(current_[kControl][2] & 0x04, std::memory_order_relaxed);
  swp_.store(current_[kControl][4] & 0x08, std::memory_order_relaxed);
}

bool ModePages::has_page(uint8_t page) const {
  if (page == kAllPages) return true;
  for (const auto& d : defs())
    if (d.page == page) return true;
  return false;
}

void ModePages::set_default_wce(bool on) {
  std::lock_guard lk(mu_);
  for (auto* page : {&defaults_[kCaching], &current_[kCaching]}) (*page)[2] = uint8_t(on ? ((*page)[2] | 0x04) : ((*page)[2] & ~0x04));
  publish_locked();
}

void ModePages::reset() {
  std::lock_guard lk(mu_);
  current_ = defaults_;
  publish_locked();
}

bool ModePages::append(uint8_t page, uint8_t subpage, PageControl pc, std::vector<uint8_t>& out) const {
  const auto& d = defs();
  bool any = false;
  std::lock_guard lk(mu_);
  for (size_t i = 0; i < d.size(); ++i) {
    const Def& def = d[i];
    if (page != kAllPages && page != def.page) continue;
    if (subpage != kAllSubpages && subpage != def.subpage) continue;
    const uint8_t* src = pc == PageControl::changeable       ? def.changeable.data()
                         : pc == PageControl::default_values ? defaults_[i].data()
                                                             : current_[i].data();
    const size_t at = out.size();
    out.insert(out.end(), src, src + def.length);
    // Page header is the same in every page control (PS = 0: not savable).
    out[at] = def.page;
    out[at + 1] = uint8_t(def.length - 2);
    any = true;
  }
  return any;
}

std::optional<scsi::SenseCode> ModePages::select(const uint8_t* p, size_t len, size_t base, bool& changed) {
  const auto& d = defs();
  changed = false;
  std::lock_guard lk(mu_);
  auto staged = current_;
  size_t off = 0;
  while (off < len) {
    if (len - off < 2) return parameter_list_length_error;
    const bool spf = p[off] & 0x40;
    const uint8_t page = p[off] & 0x3f;
    if (spf && len - off < 4) return parameter_list_length_error;
    const uint8_t subpage = spf ? p[off + 1] : 0;
    const size_t hdr = spf ? 4 : 2;
    const size_t plen = spf ? size_t(scsi::get_be16(&p[off + 2])) + 4 : size_t(p[off + 1]) + 2;
    size_t idx = d.size();
    for (size_t i = 0; i < d.size(); ++i)
      if (d[i].page == page && d[i].subpage == subpage) idx = i;
    if (idx == d.size()) {
      if (spf) return invalid_field_in_parameter_list.with_field(false, uint16_t(base + off + 1));
      return invalid_field_in_parameter_list.with_field(false, uint16_t(base + off), 5);
    }
    const Def& def = d[idx];
    if (plen != def.length) return invalid_field_in_parameter_list.with_field(false, uint16_t(base + off + hdr - 1));
    if (len - off < plen) return parameter_list_length_error;
    for (size_t b = hdr; b < plen; ++b) {
      const uint8_t diff = uint8_t((p[off + b] ^ staged[idx][b]) & ~def.changeable[b]);
      if (diff) return invalid_field_in_parameter_list.with_field(false, uint16_t(base + off + b), scsi::top_bit(diff));
      staged[idx][b] = p[off + b];
    }
    off += plen;
  }
  changed = staged != current_;
  current_ = staged;
  publish_locked();
  return std::nullopt;
}

}  // namespace stmf::sbd
