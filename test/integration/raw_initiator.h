// A deliberately small iSCSI initiator on a raw socket, for tests that must send what
// libiscsi never would: malformed PDUs, bad digests, out-of-window CmdSNs, data digests.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace stmf::test {

struct RawPdu {
  std::array<uint8_t, 48> bhs{};
  std::vector<uint8_t> data;
  uint8_t opcode() const { return bhs[0] & 0x3f; }
  uint32_t field32(size_t off) const {
    return uint32_t(bhs[off]) << 24 | uint32_t(bhs[off + 1]) << 16 | uint32_t(bhs[off + 2]) << 8 | bhs[off + 3];
  }
};

class RawInitiator {
 public:
  // `source`: local address to connect from (e.g. "127.0.0.2"; empty: any).
  RawInitiator(uint16_t port, std::string initiator = "iqn.2026-11.org.example:raw", const std::string& source = "");
  ~RawInitiator();

  bool connected() const { return fd_ >= 0; }
  // Normal-session login in one operational stage. Extra keys are appended (e.g.
  // "DataDigest=CRC32C"). Returns the final login response status (class << 8 | detail).
  int login(const std::string& target, const std::vector<std::string>& extra_keys = {});
  std::map<std::string, std::string> negotiated;  // keys from the final login response

  // Sends raw bytes; sends a PDU built from a BHS and data (padding and digests added as
  // negotiated unless corrupt_data_digest / corrupt_header_digest is set).
  bool send_raw(const void* p, size_t n);
  bool send(const std::array<uint8_t, 48>& bhs, const std::vector<uint8_t>& data = {}, bool corrupt_header_digest = false,
            bool corrupt_data_digest = false);
  // Receives one PDU; nullopt on EOF, error or timeout.
  std::optional<RawPdu> recv(int timeout_ms = 5000);
  // True when the target closed the connection within the timeout.
  bool closed_by_target(int timeout_ms = 5000);

  std::array<uint8_t, 48> scsi_command(const uint8_t* cdb, size_t cdb_len, uint32_t edtl, bool read, bool write,
                                       uint32_t data_len);
  std::array<uint8_t, 48> nop_out(uint32_t itt);
  // A Data-Out PDU header (RFC 7143 11.7) answering an R2T (ttt) or unsolicited (0xffffffff).
  std::array<uint8_t, 48> data_out(uint32_t task_itt, uint32_t ttt, uint32_t data_sn, uint32_t buffer_offset, bool final);

  uint32_t cmd_sn = 1, exp_stat_sn = 0, itt = 1;
  bool header_digest = false, data_digest = false;
  bool discovery = false;         // login() opens a discovery session (no TargetName)
  uint16_t isid_qualifier = 0;    // last two ISID bytes: distinct sessions of one initiator
  // send() gives up (returns false) after this long blocked (0: never); for peers that stop reading.
  void set_send_timeout(int ms);
  // Shrinks the socket's receive buffer (a peer that reads slowly or never).
  void set_receive_buffer(int bytes);

 private:
  int fd_ = -1;
  std::string initiator_;
};

}  // namespace stmf::test
