// The target side of the iSCSI login phase (RFC 7143 6 and 11.12/11.13), I/O-free.
//
// Feed every Login Request (BHS + data segment) to on_request(); it returns the Login
// Response to send (BHS + data) and whether the login is still in progress, complete (full
// feature phase) or failed (send the response, then close the connection).
//
// Stages: security (0) → operational (1) → full feature (3); the initiator may skip either
// negotiation stage unless authentication is required. Policy comes from LoginConfig;
// per-target facts and session decisions come from the LoginContext the caller implements.
//
// Ownership: the state machine keeps a reference to the LoginContext, which must outlive it.
// The caller owns TSIH assignment: when on_request() returns `complete`, write the session's
// TSIH into the response with set_login_tsih() before sending it (RFC 7143 11.13.4: the final
// response carries the TSIH; earlier ones echo the initiator's).
//
// Notes on lenience (deliberate): the ITT may change between Login Requests (libiscsi uses a
// new ITT per PDU); operational keys are accepted in the security stage. ISID, TSIH, CID and
// the version range must stay the same for the whole login.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "transport/iscsi/params.h"
#include "transport/iscsi/pdu.h"
#include "transport/iscsi/text.h"

namespace stmf::iscsi {

// Status-Class << 8 | Status-Detail (RFC 7143 11.13.5).
enum class LoginStatus : uint16_t {
  success = 0x0000,
  initiator_error = 0x0200,
  authentication_failure = 0x0201,
  authorization_failure = 0x0202,
  not_found = 0x0203,
  target_removed = 0x0204,
  unsupported_version = 0x0205,
  too_many_connections = 0x0206,
  missing_parameter = 0x0207,
  cant_include_in_session = 0x0208,
  session_type_not_supported = 0x0209,
  session_does_not_exist = 0x020a,
  invalid_request_during_login = 0x020b,
  target_error = 0x0300,
  service_unavailable = 0x0301,
  out_of_resources = 0x0302,
};
const char* to_string(LoginStatus s);

// The CHAP credentials of one login (one initiator on one target, or a discovery session).
struct ChapSecret {
  // The initiator proves it knows `secret` (CHAP_N must be `user`). An empty secret means CHAP
  // is required but nothing is configured for this initiator: every answer fails (0x0201).
  std::string user, secret;
  std::string mutual_user, mutual_secret;  // the target's identity for mutual CHAP (may be empty)
  bool has_mutual() const { return !mutual_secret.empty(); }
};

inline constexpr size_t kChapMaxChallenge = 1024;  // RFC 7143 12.1.3: CHAP_C at most 1024 bytes
inline constexpr size_t kChapMinChallenge = 16;    // the shortest challenge we send

// What the caller decided about the (ISID, TSIH) of a leading login.
enum class SessionDecision {
  ok,  // new session (TSIH 0) or a connection the caller accepts
  reinstate,  // same initiator + ISID as a live session: the caller closes the old one (ok)
  session_does_not_exist,  // TSIH != 0 and no such session → 0x020a
  too_many_connections,  // → 0x0206
  cant_include_in_session,  // → 0x0208
};

// Implemented by the transport (Asio) layer. Called synchronously from on_request().
class LoginContext {
 public:
  virtual ~LoginContext() = default;
  virtual bool target_exists(std::string_view target) = 0;
  // False while the target is offline (stmfOfflineTarget): logins get Service Unavailable.
  virtual bool target_online(std::string_view) { return true; }
  // CHAP credentials `initiator` must prove on `target` ("" for discovery sessions); nullopt =
  // no CHAP, AuthMethod=None is accepted. When present, CHAP is required.
  virtual std::optional<ChapSecret> chap_for(std::string_view target, std::string_view initiator) = 0;
  virtual bool initiator_allowed(std::string_view target, std::string_view initiator) = 0;
  virtual uint16_t tpgt(std::string_view target) = 0;
  virtual std::string target_alias(std::string_view target) = 0;
  // Called once, on the first Login Request, after the names are known and valid.
  virtual SessionDecision check_session(uint64_t isid, uint16_t tsih, std::string_view initiator,
                                        std::string_view target, SessionType type) = 0;
  // Random bytes for CHAP challenges and identifiers. Default: std::random_device.
  virtual void random_bytes(std::span<uint8_t> out);
};

// Target-side policy and limits.
struct LoginConfig {
  uint32_t max_recv_data_segment_length = 262144;  // our declaration (what we accept)
  uint32_t max_burst_length = 1048576;
  uint32_t first_burst_length = 65536;
  uint16_t max_outstanding_r2t = 1;
  uint16_t max_connections = 1;
  bool initial_r2t = false;  // OR: true forces InitialR2T=Yes
  bool immediate_data = true;  // AND: false forces ImmediateData=No
  bool data_pdu_in_order = true;  // AND: false asks for out-of-order PDUs
  bool data_sequence_in_order = true;
  uint16_t default_time2wait = 2;  // max
  uint16_t default_time2retain = 20;  // min
  uint8_t max_error_recovery_level = 0;  // min
  // Digests the target accepts. {CRC32C} requires, {None} forbids, both = either.
  std::vector<Digest> header_digests = {Digest::crc32c, Digest::none};
  std::vector<Digest> data_digests = {Digest::crc32c, Digest::none};
  uint32_t queue_depth = 128;  // MaxCmdSN = ExpCmdSN + queue_depth - 1
  size_t max_login_text = 65536;  // reassembled login text limit
  size_t chap_challenge_length = 16;  // bytes (>= 16)
};

enum class LoginOutcome { in_progress, complete, failed };

struct LoginResult {
  LoginOutcome outcome = LoginOutcome::in_progress;
  Bhs bhs{};  // the Login Response, DataSegmentLength set
  std::string data;  // text data segment (unpadded)
  LoginStatus status = LoginStatus::success;
  std::string reason;  // for the log, on failure
};

inline void set_login_tsih(Bhs& b, uint16_t tsih) { store_be16(&b[14], tsih); }

class LoginStateMachine {
 public:
  LoginStateMachine(const LoginConfig& config, LoginContext& context);

  LoginResult on_request(const Bhs& bhs, std::span<const uint8_t> data);

  // Valid once complete (and partly during the login).
  const SessionParams& params() const { return params_; }
  LoginStage stage() const { return stage_; }
  bool complete() const { return done_; }
  bool failed() const { return failed_; }
  SessionDecision session_decision() const { return decision_; }
  bool authenticated_with_chap() const { return chap_ok_; }
  // Sequence numbers to continue with in full feature phase.
  uint32_t exp_cmd_sn() const { return exp_cmd_sn_; }
  uint32_t next_stat_sn() const { return stat_sn_; }

 private:
  enum class Chap { none, wait_a, wait_response, done };

  LoginResult fail(LoginStatus s, std::string reason);
  // Sends `data` (split over several responses with C=1 if it exceeds 8192 bytes) and applies
  // the stage transition with the last piece.
  LoginResult emit(bool transit, uint8_t nsg, std::string data);
  LoginResult build(bool transit, uint8_t nsg, bool cont, std::string data);
  std::optional<LoginResult> first_request_checks(const TextKeys& keys);
  // Each returns a failure to end the login; answers are appended to `out`.
  std::optional<LoginResult> process_key(const std::string& key, const std::string& value, std::string& out);
  std::optional<LoginResult> security_key(const std::string& key, const std::string& value, std::string& out);
  std::optional<LoginResult> verify_chap(const TextKeys& keys, std::string& out);
  std::optional<LoginResult> operational_key(const std::string& key, const std::string& value, std::string& out);
  std::optional<LoginResult> offer_answer(const std::string& key, const std::string& value);
  std::string target_offers();
  std::optional<LoginResult> finish_checks();

  const LoginConfig& cfg_;
  LoginContext& ctx_;
  SessionParams params_;
  LoginStage stage_ = LoginStage::security;
  bool started_ = false, done_ = false, failed_ = false;
  SessionDecision decision_ = SessionDecision::ok;
  LoginRequest req_{};  // the request being answered

  // Fixed by the first request.
  uint8_t version_max_ = 0, version_min_ = 0;
  uint32_t exp_cmd_sn_ = 0, stat_sn_ = 0;
  bool names_checked_ = false;

  TextAssembler assembler_;
  std::set<std::string> negotiated_;  // keys the initiator sent
  std::map<std::string, std::string> offered_;  // keys we offered, awaiting answers → our value
  std::optional<uint64_t> offered_mbl_;  // the initiator's MaxBurstLength offer
  bool offers_made_ = false;
  bool sent_tpgt_ = false, sent_mrdsl_ = false;
  // An outgoing text larger than one PDU: the rest, and the T/NSG for the last piece.
  TextSplitter pending_out_;
  bool pending_active_ = false, pending_transit_ = false;
  uint8_t pending_nsg_ = 0;

  // Authentication.
  std::optional<ChapSecret> chap_secret_;
  bool auth_required_ = false, auth_done_ = false, chap_ok_ = false;
  Chap chap_ = Chap::none;
  uint8_t chap_id_ = 0;
  std::vector<uint8_t> chap_challenge_;
};

}  // namespace stmf::iscsi
