#include "test/integration/raw_initiator.h"

#include <arpa/inet.h>
#include <isa-l.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace stmf::test {

namespace {
void put32(uint8_t* p, uint32_t v) { p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v); }
// CRC32C as iSCSI digests use it (RFC 7143 13.1; ISA-L crc32_iscsi with the standard
// initial value and final complement), stored little-endian on the wire.
uint32_t crc(const uint8_t* p, size_t n) { return ~crc32_iscsi(const_cast<uint8_t*>(p), int(n), 0xffffffff); }
void put_digest(uint8_t* p, uint32_t v) { p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); p[2] = uint8_t(v >> 16); p[3] = uint8_t(v >> 24); }
}  // namespace

RawInitiator::RawInitiator(uint16_t port, std::string initiator, const std::string& source)
    : initiator_(std::move(initiator)) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (!source.empty()) {
    sockaddr_in l{};
    l.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &l.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&l), sizeof l) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawInitiator::~RawInitiator() {
  if (fd_ >= 0) ::close(fd_);
}

void RawInitiator::set_send_timeout(int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

void RawInitiator::set_receive_buffer(int bytes) { ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes); }

bool RawInitiator::send_raw(const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  while (n) {
    ssize_t w = ::send(fd_, b, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    b += w;
    n -= size_t(w);
  }
  return true;
}

bool RawInitiator::send(const std::array<uint8_t, 48>& bhs_in, const std::vector<uint8_t>& data, bool bad_hd, bool bad_dd) {
  std::vector<uint8_t> out(bhs_in.begin(), bhs_in.end());
  out[5] = uint8_t(data.size() >> 16);
  out[6] = uint8_t(data.size() >> 8);
  out[7] = uint8_t(data.size());
  if (header_digest) {
    uint8_t d[4];
    put_digest(d, crc(out.data(), 48) ^ (bad_hd ? 1u : 0u));
    out.insert(out.end(), d, d + 4);
  }
  if (!data.empty()) {
    size_t start = out.size();
    out.insert(out.end(), data.begin(), data.end());
    out.resize(out.size() + ((4 - data.size() % 4) % 4), 0);
    if (data_digest) {
      uint8_t d[4];
      put_digest(d, crc(out.data() + start, out.size() - start) ^ (bad_dd ? 1u : 0u));
      out.insert(out.end(), d, d + 4);
    }
  }
  return send_raw(out.data(), out.size());
}

static bool read_full(int fd, uint8_t* p, size_t n, int timeout_ms) {
  while (n) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, timeout_ms) <= 0) return false;
    ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

std::optional<RawPdu> RawInitiator::recv(int timeout_ms) {
  RawPdu p;
  if (!read_full(fd_, p.bhs.data(), 48, timeout_ms)) return std::nullopt;
  size_t ahs = size_t(p.bhs[4]) * 4;
  size_t dlen = size_t(p.bhs[5]) << 16 | size_t(p.bhs[6]) << 8 | p.bhs[7];
  std::vector<uint8_t> skip(ahs + (header_digest ? 4 : 0));
  if (!skip.empty() && !read_full(fd_, skip.data(), skip.size(), timeout_ms)) return std::nullopt;
  if (dlen) {
    size_t total = dlen + (4 - dlen % 4) % 4 + (data_digest ? 4 : 0);
    p.data.resize(total);
    if (!read_full(fd_, p.data.data(), total, timeout_ms)) return std::nullopt;
    p.data.resize(dlen);
  }
  const uint8_t op = p.opcode();
  // Track StatSN for PDUs that carry status.
  if (op == 0x21 || op == 0x22 || op == 0x24 || op == 0x26 || op == 0x3f || (op == 0x25 && (p.bhs[1] & 0x01)) ||
      (op == 0x20 && p.field32(16) != 0xffffffff))
    exp_stat_sn = p.field32(24) + 1;
  return p;
}

bool RawInitiator::closed_by_target(int timeout_ms) {
  for (;;) {
    pollfd pf{fd_, POLLIN, 0};
    if (::poll(&pf, 1, timeout_ms) <= 0) return false;
    uint8_t buf[4096];
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r <= 0) return true;
  }
}

int RawInitiator::login(const std::string& target, const std::vector<std::string>& extra) {
  std::array<uint8_t, 48> h{};
  h[0] = 0x40 | 0x03;
  h[1] = 0x80 | (1 << 2) | 3;  // T, CSG=operational, NSG=full feature
  h[8] = 0x80;                  // ISID: random-ish, type 10b
  h[13] = uint8_t(::getpid());
  h[11] = uint8_t(isid_qualifier >> 8);
  h[12] = uint8_t(isid_qualifier);
  put32(&h[16], itt++);
  put32(&h[24], cmd_sn);
  put32(&h[28], exp_stat_sn);
  std::string keys = discovery ? "InitiatorName=" + initiator_ + '\0' + "SessionType=Discovery" + '\0'
                              : "InitiatorName=" + initiator_ + '\0' + "TargetName=" + target + '\0' +
                                    "SessionType=Normal" + '\0';
  bool hd = false, dd = false;
  for (auto& k : extra) {
    keys += k + '\0';
    hd = hd || k == "HeaderDigest=CRC32C";
    dd = dd || k == "DataDigest=CRC32C";
  }
  if (!hd) keys += std::string("HeaderDigest=None") + '\0';
  if (!dd) keys += std::string("DataDigest=None") + '\0';
  std::vector<uint8_t> data(keys.begin(), keys.end());
  for (int round = 0; round < 4; ++round) {
    if (!send(h, data)) return -1;
    auto r = recv();
    if (!r || r->opcode() != 0x23) return -1;
    int status = r->bhs[36] << 8 | r->bhs[37];
    if (status != 0) return status;
    std::string s(r->data.begin(), r->data.end());
    for (size_t pos = 0; pos < s.size();) {
      size_t end = s.find('\0', pos);
      if (end == std::string::npos) end = s.size();
      auto kv = s.substr(pos, end - pos);
      if (auto eq = kv.find('='); eq != std::string::npos) negotiated[kv.substr(0, eq)] = kv.substr(eq + 1);
      pos = end + 1;
    }
    exp_stat_sn = r->field32(24) + 1;
    if ((r->bhs[1] & 0x80) && (r->bhs[1] & 0x03) == 3) {
      header_digest = negotiated["HeaderDigest"] == "CRC32C";
      data_digest = negotiated["DataDigest"] == "CRC32C";
      return 0;
    }
    data.clear();  // target wants another round; keep asking to transit
  }
  return -1;
}

std::array<uint8_t, 48> RawInitiator::scsi_command(const uint8_t* cdb, size_t cdb_len, uint32_t edtl, bool read, bool write,
                                                   uint32_t) {
  std::array<uint8_t, 48> h{};
  h[0] = 0x01;
  h[1] = 0x80 | (read ? 0x40 : 0) | (write ? 0x20 : 0) | 0x01;
  put32(&h[16], itt++);
  put32(&h[20], edtl);
  put32(&h[24], cmd_sn++);
  put32(&h[28], exp_stat_sn);
  std::memcpy(&h[32], cdb, cdb_len);
  return h;
}

std::array<uint8_t, 48> RawInitiator::nop_out(uint32_t tag) {
  std::array<uint8_t, 48> h{};
  h[0] = 0x40 | 0x00;
  h[1] = 0x80;
  put32(&h[16], tag);
  put32(&h[20], 0xffffffff);
  put32(&h[24], cmd_sn);
  put32(&h[28], exp_stat_sn);
  return h;
}

std::array<uint8_t, 48> RawInitiator::data_out(uint32_t task_itt, uint32_t ttt, uint32_t data_sn, uint32_t buffer_offset,
                                               bool final) {
  std::array<uint8_t, 48> h{};
  h[0] = 0x05;
  h[1] = final ? 0x80 : 0;
  put32(&h[16], task_itt);
  put32(&h[20], ttt);
  put32(&h[28], exp_stat_sn);
  put32(&h[36], data_sn);
  put32(&h[40], buffer_offset);
  return h;
}

}  // namespace stmf::test
