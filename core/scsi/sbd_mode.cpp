// Block LU: MODE SENSE (6/10) and MODE SELECT (6/10) (SPC-4 6.11-6.14), over ModePages.
#include "core/it_nexus.h"
#include "core/scsi/cdb.h"
#include "core/scsi/opcodes.h"
#include "core/scsi/sbd_lu_impl.h"

namespace stmf::sbd {

namespace sense = scsi::sense;
using scsi::get_be16;
using scsi::get_be24;
using scsi::get_be32;
using scsi::put_be16;
using scsi::put_be32;
using scsi::put_be64;

void BlockLu::h_mode_sense(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  const bool ten = cdb[0] == scsi::op::kModeSense10;
  const bool dbd = cdb[1] & 0x08;
  const bool llbaa = ten && (cdb[1] & 0x10);
  const auto pc = PageControl(cdb[2] >> 6);
  const uint8_t page = cdb[2] & 0x3f;
  const uint8_t subpage = cdb[3];
  const uint32_t alloc = ten ? get_be16(&cdb[7]) : cdb[4];
  if (pc == PageControl::saved) return fail(t, done, sense::saving_parameters_not_supported.with_field(true, 2, 7));
  if (!modes_.has_page(page)) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 2, 5));

  auto& d = t->data_in;
  const size_t hlen = ten ? 8 : 4;
  d.assign(hlen, 0);
  // Device-specific parameter (SBC-3 6.5.1): WP, DPOFUA.
  const uint8_t dsp = uint8_t((write_protected() ? 0x80 : 0) | 0x10);
  if (!dbd) {
    const bool changeable = pc == PageControl::changeable;  // no block descriptor field is changeable
    if (llbaa) {
      uint8_t bd[16] = {};
      if (!changeable) {
        put_be64(&bd[0], blocks_);
        put_be32(&bd[12], bs_);
      }
      d.insert(d.end(), bd, bd + 16);
    } else {
      uint8_t bd[8] = {};
      if (!changeable) {
        put_be32(&bd[0], blocks_ > 0xffffffffULL ? 0xffffffffu : uint32_t(blocks_));
        put_be32(&bd[4], bs_);  // byte 4 reserved, 5..7 logical block length
        bd[4] = 0;
      }
      d.insert(d.end(), bd, bd + 8);
    }
  }
  const size_t bdl = d.size() - hlen;
  if (!modes_.append(page, subpage, pc, d)) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 3));
  if (ten) {
    put_be16(&d[0], uint16_t(d.size() - 2));
    d[3] = dsp;
    d[4] = llbaa && bdl ? 0x01 : 0;  // LONGLBA
    put_be16(&d[6], uint16_t(bdl));
  } else {
    d[0] = uint8_t(d.size() - 1);
    d[2] = dsp;
    d[3] = uint8_t(bdl);
  }
  if (d.size() > alloc) d.resize(alloc);
  done(t);
}

void BlockLu::h_mode_select(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  const bool ten = cdb[0] == scsi::op::kModeSelect10;
  const uint32_t plen = ten ? get_be16(&cdb[7]) : cdb[4];
  t->transfer_length = plen;
  if (cdb[1] & 0x01) return fail(t, done, sense::saving_parameters_not_supported.with_field(true, 1, 0));  // SP
  if (plen == 0) return done(t);
  if (!(cdb[1] & 0x10)) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 4));  // PF
  const size_t hlen = ten ? 8 : 4;
  if (plen < hlen) return fail(t, done, sense::parameter_list_length_error);
  if (t->data_out.size() < plen) return fail(t, done, sense::invalid_field_in_command_iu);  // EDTL below it
  const uint8_t* p = t->data_out.data();
  // Header: MODE DATA LENGTH is reserved in MODE SELECT and ignored; MEDIUM TYPE must be 0.
  if (p[ten ? 2 : 1]) return fail(t, done, sense::invalid_field_in_parameter_list.with_field(false, ten ? 2 : 1));
  const bool longlba = ten && (p[4] & 0x01);
  const size_t bdl = ten ? get_be16(&p[6]) : p[3];
  if (bdl != 0 && bdl != (longlba ? 16u : 8u))
    return fail(t, done, sense::invalid_field_in_parameter_list.with_field(false, uint16_t(ten ? 6 : 3)));
  if (hlen + bdl > plen) return fail(t, done, sense::parameter_list_length_error);
  if (bdl) {
    // The logical block length cannot be changed; NUMBER OF LOGICAL BLOCKS is ignored.
    const size_t at = hlen + (longlba ? 12 : 5);
    const uint32_t len = longlba ? get_be32(&p[at]) : get_be24(&p[at]);
    if (len != bs_) return fail(t, done, sense::invalid_field_in_parameter_list.with_field(false, uint16_t(at)));
  }
  bool changed = false;
  if (auto e = modes_.select(p + hlen + bdl, plen - hlen - bdl, hlen + bdl, changed)) return fail(t, done, *e);
  if (changed)
    unit_attentions().raise_all(sense::mode_parameters_changed, t->nexus ? t->nexus->key() : std::string());
  done(t);
}

std::vector<uint8_t> BlockLu::current_mode_pages() const {
  std::vector<uint8_t> v;
  modes_.append(ModePages::kAllPages, ModePages::kAllSubpages, PageControl::current, v);
  return v;
}

// The same checks as MODE SELECT: a list from another build that does not fit changes nothing.
bool BlockLu::restore_mode_pages(const std::vector<uint8_t>& pages) {
  bool changed = false;
  return !modes_.select(pages.data(), pages.size(), 0, changed);
}

}  // namespace stmf::sbd
