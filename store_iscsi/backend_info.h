// The iscsi backing store's pure parts (no libiscsi, no Asio): what the backend LUN offers,
// parsed from its READ CAPACITY (16), Block Limits VPD (B0h) and Logical Block Provisioning
// VPD (B2h) answers; the retry policy for commands caught by a connection loss; how a
// backend's status and sense become the error codes the block LU maps to the front's sense.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

namespace stmf::iscsistore {

struct BackendInfo {
  // READ CAPACITY (16), SBC-3 5.16.2
  uint64_t blocks = 0;        // RETURNED LOGICAL BLOCK ADDRESS + 1
  uint32_t block_size = 0;    // LOGICAL BLOCK LENGTH IN BYTES
  bool lbpme = false;         // logical block provisioning management enabled (thin)
  bool lbprz = false;         // unmapped blocks read as zeroes
  // Block Limits VPD (SBC-3 6.6.4); 0 = no limit reported
  uint32_t max_transfer_blocks = 0;
  uint32_t max_unmap_blocks = 0;
  uint32_t max_unmap_descriptors = 0;
  uint64_t max_write_same_blocks = 0;
  // Logical Block Provisioning VPD (SBC-3 6.6.7)
  bool lbpu = false;    // UNMAP supported
  bool lbpws = false;   // WRITE SAME (16) with UNMAP supported
};

// Each returns false (leaving `out` alone) when the data is too short or not the page asked for.
bool parse_read_capacity16(const uint8_t* p, size_t n, BackendInfo& out);
bool parse_block_limits_vpd(const uint8_t* p, size_t n, BackendInfo& out);
bool parse_lbp_vpd(const uint8_t* p, size_t n, BackendInfo& out);

// How a range is deallocated on the backend so that it reads as zeroes afterwards (the
// BackingStore::unmap contract): UNMAP only when the backend reads unmapped blocks as zeroes,
// else WRITE SAME (16) with the UNMAP bit and a zeroed block (SBC-3: the range then reads as
// that block whether or not it was deallocated), else WRITE SAME (16) of zeroes without it.
enum class UnmapMethod { unmap, write_same_unmap, write_same_zero };
UnmapMethod unmap_method(const BackendInfo& b);
// Thin provisioning offered to the front: the backend deallocates (LBPME with UNMAP or WRITE SAME unmap).
bool backend_thin(const BackendInfo& b);

// Commands in flight when the backend connection is lost go back to the queue and are sent
// again on the next connection, until either bound is reached; then they fail.
struct RetryPolicy {
  unsigned max_attempts = 2;                          // sends per command, the first included
  std::chrono::milliseconds max_wait{10000};          // from the command's arrival
};
enum class RetryVerdict { retry, give_up };
RetryVerdict retry_verdict(const RetryPolicy& p, unsigned attempts_made, std::chrono::milliseconds waited);

// What a finished backend command means for the front.
enum class Outcome {
  done,         // GOOD (ec empty) or a definite error (ec set): complete with it
  retry,        // transient on a live connection (UNIT ATTENTION, BUSY, TASK SET FULL, ABORTED COMMAND): send again
  reconnect,    // the connection is unusable (cancelled, timed out, transport error): drop it, send again on the next
};
struct Verdict {
  Outcome outcome = Outcome::done;
  std::error_code ec;
};
// status: the SCSI status (or libiscsi's CANCELLED/ERROR/TIMEOUT values); key/asc/ascq: the sense.
Verdict classify(int status, uint8_t key, uint8_t asc, uint8_t ascq);

// The SCSI status values (SAM-5) and libiscsi's out-of-band ones (iscsi.h), repeated here so
// the pure part compiles without libiscsi; iscsi_store.cpp checks they agree.
namespace status {
constexpr int good = 0x00, check_condition = 0x02, busy = 0x08, reservation_conflict = 0x18, task_set_full = 0x28,
              task_aborted = 0x40;
constexpr int cancelled = 0x0f000000, error = 0x0f000001, timeout = 0x0f000002;
}  // namespace status

// "iscsi://host:port/iqn/lun" minus any user:password@ part, for logs.
std::string redact_url(const std::string& url);

// `url` with libiscsi's CHAP credentials in front of the host ("iscsi://user%secret@host...");
// `url` itself when `user` is empty. Nullopt and why when they cannot be written there without
// being misread (libiscsi splits at the first '@' and the first '%', redact_url at the first
// '/'): a user with '%', ':', '@' or '/', a secret with '@' or '/', a URL with credentials already.
std::optional<std::string> url_with_chap(const std::string& url, const std::string& user, const std::string& secret,
                                         std::string& why);

}  // namespace stmf::iscsistore
