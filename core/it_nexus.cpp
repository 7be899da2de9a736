#include "core/it_nexus.h"

#include "core/local_port.h"

namespace stmf {

ItNexus::ItNexus(uint64_t id, LocalPort& port, std::string initiator_name, std::string isid_hex)
    : id_(id),
      port_(port),
      initiator_name_(std::move(initiator_name)),
      isid_hex_(std::move(isid_hex)),
      initiator_port_name_(initiator_name_ + ",i,0x" + isid_hex_),
      key_(initiator_port_name_ + "|" + port_.port_name()) {}

std::vector<uint8_t> ItNexus::transport_id() const {
  // SPC-4 7.6.4.6 table 508: iSCSI TransportID, FORMAT CODE 01b: byte 0 = 0x40 | protocol
  // id 5, bytes 2-3 additional length, then "<name>,i,0x<isid>" NUL-terminated, padded to a
  // multiple of four bytes.
  std::string name = initiator_port_name();
  size_t len = name.size() + 1;
  len = (len + 3) & ~size_t(3);
  if (len < 20) len = 20;  // minimum additional length (TransportID is at least 24 bytes)
  std::vector<uint8_t> t(4 + len, 0);
  t[0] = 0x40 | 0x05;
  t[2] = uint8_t(len >> 8);
  t[3] = uint8_t(len);
  std::copy(name.begin(), name.end(), t.begin() + 4);
  return t;
}

}  // namespace stmf
