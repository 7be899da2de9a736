#include "transport/iscsi/login.h"

#include <algorithm>
#include <random>

#include "transport/iscsi/chap.h"

namespace stmf::iscsi {

namespace {

constexpr size_t kLoginMaxSegment = 8192;  // data segment limit during login (RFC 7143 13.12)

bool contains(const std::vector<Digest>& v, Digest d) { return std::find(v.begin(), v.end(), d) != v.end(); }

bool is_security_key(const std::string& k) { return k == "AuthMethod" || k.rfind("CHAP_", 0) == 0; }

// RFC 7143 section 13: "Irrelevant when SessionType=Discovery".
bool irrelevant_in_discovery(const std::string& k) {
  return k == "MaxConnections" || k == "InitialR2T" || k == "ImmediateData" || k == "MaxBurstLength" ||
         k == "FirstBurstLength" || k == "MaxOutstandingR2T" || k == "DataPDUInOrder" || k == "DataSequenceInOrder";
}

std::string yes_no(bool b) { return b ? "Yes" : "No"; }

// An initiator-supplied value in a failure reason (the log): at most kShownMax characters.
constexpr size_t kShownMax = 64;
std::string shown(const std::string& v) { return v.size() <= kShownMax ? v : v.substr(0, kShownMax) + "..."; }

}  // namespace

const char* to_string(LoginStatus s) {
  switch (s) {
    case LoginStatus::success: return "success";
    case LoginStatus::initiator_error: return "initiator error";
    case LoginStatus::authentication_failure: return "authentication failure";
    case LoginStatus::authorization_failure: return "authorization failure";
    case LoginStatus::not_found: return "not found";
    case LoginStatus::target_removed: return "target removed";
    case LoginStatus::unsupported_version: return "unsupported version";
    case LoginStatus::too_many_connections: return "too many connections";
    case LoginStatus::missing_parameter: return "missing parameter";
    case LoginStatus::cant_include_in_session: return "can't include in session";
    case LoginStatus::session_type_not_supported: return "session type not supported";
    case LoginStatus::session_does_not_exist: return "session does not exist";
    case LoginStatus::invalid_request_during_login: return "invalid request during login";
    case LoginStatus::target_error: return "target error";
    case LoginStatus::service_unavailable: return "service unavailable";
    case LoginStatus::out_of_resources: return "out of resources";
  }
  return "?";
}

void LoginContext::random_bytes(std::span<uint8_t> out) {
  std::random_device rd;
  for (auto& b : out) b = uint8_t(rd());
}

LoginStateMachine::LoginStateMachine(const LoginConfig& config, LoginContext& context)
    : cfg_(config), ctx_(context), assembler_(config.max_login_text) {
  params_.target_max_recv_data_segment_length = cfg_.max_recv_data_segment_length;
}

// ------------------------------------------------------------------ responses

LoginResult LoginStateMachine::build(bool transit, uint8_t nsg, bool cont, std::string data) {
  LoginResult r;
  LoginResponse f;
  f.transit = transit;
  f.cont = cont;
  f.csg = uint8_t(stage_);
  f.nsg = nsg;
  f.version_max = 0;
  f.version_active = 0;
  f.isid = params_.isid;
  f.tsih = req_.tsih;
  f.itt = req_.itt;
  f.sn = {stat_sn_++, exp_cmd_sn_, exp_cmd_sn_ + cfg_.queue_depth - 1};
  f.data_segment_length = uint32_t(data.size());
  build_login_response(f, r.bhs);
  r.data = std::move(data);
  return r;
}

LoginResult LoginStateMachine::fail(LoginStatus s, std::string reason) {
  failed_ = true;
  LoginResult r = build(false, 0, false, {});
  r.bhs[36] = uint8_t(uint16_t(s) >> 8);
  r.bhs[37] = uint8_t(uint16_t(s));
  r.outcome = LoginOutcome::failed;
  r.status = s;
  r.reason = std::move(reason);
  return r;
}

LoginResult LoginStateMachine::emit(bool transit, uint8_t nsg, std::string data) {
  if (data.size() > kLoginMaxSegment) {
    pending_out_ = TextSplitter(std::move(data), kLoginMaxSegment);
    pending_active_ = true;
    pending_transit_ = transit;
    pending_nsg_ = nsg;
    bool more = false;
    std::string chunk(pending_out_.next(more));
    return build(false, 0, true, std::move(chunk));
  }
  LoginResult r = build(transit, nsg, false, std::move(data));
  if (transit) {
    stage_ = LoginStage(nsg);
    if (stage_ == LoginStage::full_feature) {
      done_ = true;
      r.outcome = LoginOutcome::complete;
    }
  }
  return r;
}

// ------------------------------------------------------------------ the request

LoginResult LoginStateMachine::on_request(const Bhs& bhs, std::span<const uint8_t> data) {
  if (failed_ || done_) return fail(LoginStatus::invalid_request_during_login, "Login Request after the login ended");
  LoginRequest req;
  if (auto e = parse_login_request(bhs, req)) return fail(LoginStatus::invalid_request_during_login, e->what);
  req_ = req;
  if (!started_) {
    started_ = true;
    version_max_ = req.version_max;
    version_min_ = req.version_min;
    params_.isid = req.isid;
    params_.tsih = req.tsih;
    params_.cid = req.cid;
    exp_cmd_sn_ = req.cmd_sn;
    stat_sn_ = req.exp_stat_sn;
    if (req.csg == uint8_t(LoginStage::operational)) stage_ = LoginStage::operational;
    // We speak version 0 only (RFC 7143 11.12.4).
    if (req.version_min > 0) return fail(LoginStatus::unsupported_version, "Version-min above 0");
  } else {
    if (req.isid != params_.isid || req.tsih != params_.tsih || req.cid != params_.cid)
      return fail(LoginStatus::initiator_error, "ISID, TSIH or CID changed during login");
    if (req.version_max != version_max_ || req.version_min != version_min_)
      return fail(LoginStatus::initiator_error, "version range changed during login");
  }
  if (req.transit && req.cont) return fail(LoginStatus::initiator_error, "T and C both set");
  if (req.csg != uint8_t(stage_)) return fail(LoginStatus::initiator_error, "CSG does not match the login stage");
  if (req.transit && (req.nsg <= req.csg || req.nsg == 2))
    return fail(LoginStatus::initiator_error, "invalid NSG");

  // The initiator collects the rest of a long response with empty requests.
  if (pending_active_) {
    if (!data.empty() || req.cont)
      return fail(LoginStatus::initiator_error, "expected an empty Login Request while the response continues");
    bool more = false;
    std::string chunk(pending_out_.next(more));
    if (more) return build(false, 0, true, std::move(chunk));
    pending_active_ = false;
    return emit(pending_transit_, pending_nsg_, std::move(chunk));
  }

  if (auto e = assembler_.add(data, req.cont)) return fail(LoginStatus::initiator_error, to_string(*e));
  if (req.cont) return build(false, 0, false, {});  // empty answer: send more (RFC 7143 11.13.2)
  const std::vector<uint8_t> text = assembler_.take();
  TextKeys keys;
  if (auto e = parse_text(text, keys)) return fail(LoginStatus::initiator_error, to_string(*e));

  if (!names_checked_) {
    if (auto r = first_request_checks(keys)) return *r;
    names_checked_ = true;
  }
  if (const std::string* mbl = find_key(keys, "MaxBurstLength"); mbl && !offered_.count("MaxBurstLength"))
    offered_mbl_ = parse_number(*mbl);

  std::string out;
  bool chap_response = false;
  for (auto& [k, v] : keys) {
    if (chap_ == Chap::wait_response && (k == "CHAP_N" || k == "CHAP_R" || k == "CHAP_I" || k == "CHAP_C")) {
      chap_response = true;
      continue;
    }
    if (auto r = process_key(k, v, out)) return *r;
  }
  if (chap_response)
    if (auto r = verify_chap(keys, out)) return *r;

  bool transit = false;
  uint8_t nsg = 0;
  if (req.transit) {
    bool can = true;
    if (stage_ == LoginStage::security && !auth_done_) {
      if (chap_ == Chap::none) {
        if (auth_required_) return fail(LoginStatus::authentication_failure, "authentication required, none negotiated");
        auth_done_ = true;  // no AuthMethod offered and none required
      } else {
        can = false;  // CHAP exchange still running
      }
    }
    if (can && req.nsg == uint8_t(LoginStage::full_feature)) {
      if (!offers_made_) {
        offers_made_ = true;
        std::string offers = target_offers();
        if (!offers.empty()) {
          out += offers;
          can = false;
        }
      } else if (!offered_.empty()) {
        can = false;
      }
    }
    if (can) {
      transit = true;
      nsg = req.nsg;
    }
  }

  // Declarations (RFC 7143 13.9, 13.12).
  if (params_.session_type == SessionType::normal && !sent_tpgt_) {
    append_key(out, "TargetPortalGroupTag", std::to_string(params_.target_portal_group_tag));
    // (An initiator that sent TargetAlias itself got "Reject" above; one answer per key.)
    if (!params_.target_alias.empty() && !negotiated_.count("TargetAlias"))
      append_key(out, "TargetAlias", params_.target_alias);
    sent_tpgt_ = true;
  }
  if (!sent_mrdsl_ && (stage_ == LoginStage::operational || (transit && nsg == uint8_t(LoginStage::full_feature)))) {
    append_key(out, "MaxRecvDataSegmentLength", std::to_string(cfg_.max_recv_data_segment_length));
    sent_mrdsl_ = true;
  }
  if (transit && nsg == uint8_t(LoginStage::full_feature))
    if (auto r = finish_checks()) return *r;
  return emit(transit, nsg, std::move(out));
}

std::optional<LoginResult> LoginStateMachine::first_request_checks(const TextKeys& keys) {
  const std::string* iname = find_key(keys, "InitiatorName");
  if (!iname || iname->empty()) return fail(LoginStatus::missing_parameter, "InitiatorName missing");
  SessionType type = SessionType::normal;
  if (const std::string* st = find_key(keys, "SessionType")) {
    if (*st == "Discovery")
      type = SessionType::discovery;
    else if (*st != "Normal")
      return fail(LoginStatus::session_type_not_supported, "SessionType " + *st);
  }
  params_.initiator_name = *iname;
  params_.session_type = type;
  std::string target;
  if (type == SessionType::normal) {
    const std::string* tname = find_key(keys, "TargetName");
    if (!tname || tname->empty()) return fail(LoginStatus::missing_parameter, "TargetName missing");
    if (!ctx_.target_exists(*tname)) return fail(LoginStatus::not_found, "no target " + *tname);
    if (!ctx_.target_online(*tname)) return fail(LoginStatus::service_unavailable, "target " + *tname + " is offline");
    if (!ctx_.initiator_allowed(*tname, *iname))
      return fail(LoginStatus::authorization_failure, *iname + " may not log in to " + *tname);
    target = *tname;
    params_.target_name = target;
    params_.target_portal_group_tag = ctx_.tpgt(target);
    params_.target_alias = ctx_.target_alias(target);
  }
  decision_ = ctx_.check_session(params_.isid, params_.tsih, *iname, target, type);
  switch (decision_) {
    case SessionDecision::ok:
    case SessionDecision::reinstate: break;
    case SessionDecision::session_does_not_exist: return fail(LoginStatus::session_does_not_exist, "no session for TSIH");
    case SessionDecision::too_many_connections: return fail(LoginStatus::too_many_connections, "too many connections");
    case SessionDecision::cant_include_in_session:
      return fail(LoginStatus::cant_include_in_session, "connection can't be added to the session");
  }
  chap_secret_ = ctx_.chap_for(target, *iname);
  auth_required_ = chap_secret_.has_value();
  if (stage_ == LoginStage::operational) {
    if (auth_required_) return fail(LoginStatus::authentication_failure, "security stage skipped but CHAP required");
    auth_done_ = true;
  }
  return std::nullopt;
}

// ------------------------------------------------------------------ keys

std::optional<LoginResult> LoginStateMachine::process_key(const std::string& key, const std::string& value,
                                                          std::string& out) {
  negotiated_.insert(key);
  if (offered_.count(key)) return offer_answer(key, value);
  if (key == "InitiatorName") {
    if (value != params_.initiator_name) return fail(LoginStatus::initiator_error, "InitiatorName changed during login");
    return std::nullopt;
  }
  if (key == "TargetName") {
    if (params_.session_type == SessionType::normal && value != params_.target_name)
      return fail(LoginStatus::initiator_error, "TargetName changed during login");
    return std::nullopt;
  }
  if (key == "SessionType") {
    const bool disc = params_.session_type == SessionType::discovery;
    if (value != (disc ? "Discovery" : "Normal")) return fail(LoginStatus::initiator_error, "SessionType changed during login");
    return std::nullopt;
  }
  if (key == "InitiatorAlias") {
    params_.initiator_alias = value;
    return std::nullopt;
  }
  if (is_security_key(key)) {
    if (stage_ != LoginStage::security) return fail(LoginStatus::initiator_error, key + " outside the security stage");
    return security_key(key, value, out);
  }
  if (key == "TargetAlias" || key == "TargetPortalGroupTag" || key == "TargetAddress") {
    append_key(out, key, "Reject");  // only a target sends these
    return std::nullopt;
  }
  if (key == "SendTargets") {
    append_key(out, key, "Irrelevant");  // a Text Request key, not a login key
    return std::nullopt;
  }
  return operational_key(key, value, out);
}

std::optional<LoginResult> LoginStateMachine::security_key(const std::string& key, const std::string& value,
                                                           std::string& out) {
  if (key == "AuthMethod") {
    if (chap_ != Chap::none || auth_done_) return fail(LoginStatus::initiator_error, "AuthMethod sent twice");
    for (auto m : split_list(value)) {
      if (m == "CHAP" && chap_secret_) {
        append_key(out, key, "CHAP");
        chap_ = Chap::wait_a;
        return std::nullopt;
      }
      if (m == "None" && !auth_required_) {
        append_key(out, key, "None");
        auth_done_ = true;
        return std::nullopt;
      }
    }
    return fail(LoginStatus::authentication_failure, "no acceptable AuthMethod in " + shown(value));
  }
  if (key == "CHAP_A") {
    if (chap_ != Chap::wait_a) return fail(LoginStatus::authentication_failure, "unexpected CHAP_A");
    bool md5 = false;
    for (auto a : split_list(value))
      if (auto n = parse_number(a); n && *n == kChapAlgorithmMd5) md5 = true;
    if (!md5) return fail(LoginStatus::authentication_failure, "no supported CHAP_A in " + shown(value));
    uint8_t id = 0;
    ctx_.random_bytes(std::span<uint8_t>(&id, 1));
    chap_id_ = id;
    chap_challenge_.assign(std::clamp(cfg_.chap_challenge_length, kChapMinChallenge, kChapMaxChallenge), 0);
    ctx_.random_bytes(chap_challenge_);
    append_key(out, "CHAP_A", "5");
    append_key(out, "CHAP_I", std::to_string(chap_id_));
    append_key(out, "CHAP_C", encode_hex(chap_challenge_));
    chap_ = Chap::wait_response;
    return std::nullopt;
  }
  // CHAP_N/R/I/C outside the response step, or unknown CHAP_ keys.
  return fail(LoginStatus::authentication_failure, "unexpected " + shown(key));
}

std::optional<LoginResult> LoginStateMachine::verify_chap(const TextKeys& keys, std::string& out) {
  const std::string* n = find_key(keys, "CHAP_N");
  const std::string* r = find_key(keys, "CHAP_R");
  if (!n || !r) return fail(LoginStatus::authentication_failure, "CHAP_N or CHAP_R missing");
  if (chap_secret_->secret.empty())
    return fail(LoginStatus::authentication_failure, "no CHAP secret configured for " + params_.initiator_name);
  if (*n != chap_secret_->user) return fail(LoginStatus::authentication_failure, "CHAP_N " + shown(*n) + " unknown");
  // RFC 7143 12.1.3: a secret must not authenticate both directions (configuration refuses it;
  // this guards a configuration that changed under a running login).
  if (chap_secret_->has_mutual() && chap_secret_->mutual_secret == chap_secret_->secret)
    return fail(LoginStatus::authentication_failure, "initiator and target CHAP secrets are identical");
  auto rb = decode_binary(*r);
  const std::optional<Md5Digest> expected = chap_md5_response(chap_id_, chap_secret_->secret, chap_challenge_);
  if (!expected) return fail(LoginStatus::authentication_failure, "CHAP: MD5 unavailable (libcrypto)");
  if (!rb || !equal_ct(*rb, *expected)) return fail(LoginStatus::authentication_failure, "CHAP_R mismatch");

  const std::string* i = find_key(keys, "CHAP_I");
  const std::string* c = find_key(keys, "CHAP_C");
  if (i || c) {  // mutual CHAP: the initiator challenges us
    if (!i || !c) return fail(LoginStatus::authentication_failure, "mutual CHAP needs CHAP_I and CHAP_C");
    if (!chap_secret_->has_mutual()) return fail(LoginStatus::authentication_failure, "mutual CHAP not configured");
    auto id = parse_number(*i, 255);
    auto cb = decode_binary(*c);
    if (!id) return fail(LoginStatus::authentication_failure, "CHAP_I " + shown(*i) + " is not 0..255");
    if (!cb || cb->size() > kChapMaxChallenge)
      return fail(LoginStatus::authentication_failure, "CHAP_C must be 1 to " + std::to_string(kChapMaxChallenge) + " bytes");
    // RFC 7143 12.1.3: never answer our own challenge (reflection attack).
    if (*cb == chap_challenge_) return fail(LoginStatus::authentication_failure, "initiator reflected our CHAP_C");
    const std::optional<Md5Digest> resp = chap_md5_response(uint8_t(*id), chap_secret_->mutual_secret, *cb);
    if (!resp) return fail(LoginStatus::authentication_failure, "CHAP: MD5 unavailable (libcrypto)");
    append_key(out, "CHAP_N", chap_secret_->mutual_user);
    append_key(out, "CHAP_R", encode_hex(*resp));
  }
  chap_ = Chap::done;
  chap_ok_ = true;
  auth_done_ = true;
  return std::nullopt;
}

std::optional<LoginResult> LoginStateMachine::operational_key(const std::string& key, const std::string& value,
                                                              std::string& out) {
  if (params_.session_type == SessionType::discovery && irrelevant_in_discovery(key)) {
    append_key(out, key, "Irrelevant");
    return std::nullopt;
  }
  auto answer_min = [&](uint64_t ours, uint64_t lo, uint64_t hi, auto& field) {
    if (auto v = negotiate_min(value, ours, lo, hi)) {
      field = static_cast<std::remove_reference_t<decltype(field)>>(*v);
      append_key(out, key, std::to_string(*v));
    } else {
      append_key(out, key, "Reject");
    }
  };
  if (key == "HeaderDigest" || key == "DataDigest") {
    const bool header = key == "HeaderDigest";
    if (auto d = choose_digest(value, header ? cfg_.header_digests : cfg_.data_digests)) {
      (header ? params_.header_digest : params_.data_digest) = *d == Digest::crc32c;
      append_key(out, key, to_string(*d));
    } else {
      append_key(out, key, "Reject");
    }
  } else if (key == "MaxRecvDataSegmentLength") {
    auto v = parse_number(value);
    if (!v || *v < kMinDataLength || *v > kMaxDataLength)
      return fail(LoginStatus::initiator_error, "invalid MaxRecvDataSegmentLength " + value);
    params_.max_recv_data_segment_length = uint32_t(*v);  // declarative: no answer
  } else if (key == "MaxBurstLength") {
    answer_min(cfg_.max_burst_length, kMinDataLength, kMaxDataLength, params_.max_burst_length);
  } else if (key == "FirstBurstLength") {
    auto v = parse_number(value);
    if (v && offered_mbl_ && *v > *offered_mbl_)
      append_key(out, key, "Reject");  // RFC 7143 13.14: must not exceed MaxBurstLength
    else
      answer_min(cfg_.first_burst_length, kMinDataLength, kMaxDataLength, params_.first_burst_length);
  } else if (key == "MaxOutstandingR2T") {
    answer_min(cfg_.max_outstanding_r2t, 1, 65535, params_.max_outstanding_r2t);
  } else if (key == "MaxConnections") {
    answer_min(cfg_.max_connections, 1, 65535, params_.max_connections);
  } else if (key == "DefaultTime2Retain") {
    answer_min(cfg_.default_time2retain, 0, 3600, params_.default_time2retain);
  } else if (key == "ErrorRecoveryLevel") {
    answer_min(cfg_.max_error_recovery_level, 0, 2, params_.error_recovery_level);
  } else if (key == "DefaultTime2Wait") {
    if (auto v = negotiate_max(value, cfg_.default_time2wait, 0, 3600)) {
      params_.default_time2wait = uint16_t(*v);
      append_key(out, key, std::to_string(*v));
    } else {
      append_key(out, key, "Reject");
    }
  } else if (key == "InitialR2T") {
    if (auto v = negotiate_or(value, cfg_.initial_r2t)) {
      params_.initial_r2t = *v;
      append_key(out, key, yes_no(*v));
    } else {
      append_key(out, key, "Reject");
    }
  } else if (key == "ImmediateData" || key == "DataPDUInOrder" || key == "DataSequenceInOrder") {
    bool& field = key == "ImmediateData"    ? params_.immediate_data
                  : key == "DataPDUInOrder" ? params_.data_pdu_in_order
                                            : params_.data_sequence_in_order;
    const bool ours = key == "ImmediateData"    ? cfg_.immediate_data
                      : key == "DataPDUInOrder" ? cfg_.data_pdu_in_order
                                                : cfg_.data_sequence_in_order;
    if (auto v = negotiate_and(value, ours)) {
      field = *v;
      append_key(out, key, yes_no(*v));
    } else {
      append_key(out, key, "Reject");
    }
  } else if (key == "IFMarker" || key == "OFMarker") {
    // Markers (RFC 3720) are gone from RFC 7143; answering No (AND) keeps old initiators happy.
    append_key(out, key, parse_bool(value) ? "No" : "Reject");
  } else if (key == "IFMarkInt" || key == "OFMarkInt") {
    append_key(out, key, "Irrelevant");
  } else {
    append_key(out, key, "NotUnderstood");
  }
  return std::nullopt;
}

// Keys the initiator left at defaults that our policy cannot live with: we offer them when
// the initiator asks to enter full feature phase, and answer T=0 until they are answered.
std::string LoginStateMachine::target_offers() {
  std::string out;
  auto offer = [&](const std::string& key, const std::string& value) {
    append_key(out, key, value);
    offered_[key] = value;
  };
  if (!negotiated_.count("HeaderDigest") && !cfg_.header_digests.empty() && !contains(cfg_.header_digests, Digest::none))
    offer("HeaderDigest", to_string(cfg_.header_digests.front()));
  if (!negotiated_.count("DataDigest") && !cfg_.data_digests.empty() && !contains(cfg_.data_digests, Digest::none))
    offer("DataDigest", to_string(cfg_.data_digests.front()));
  if (params_.session_type == SessionType::normal) {
    if (!negotiated_.count("MaxBurstLength") && cfg_.max_burst_length < params_.max_burst_length)
      offer("MaxBurstLength", std::to_string(cfg_.max_burst_length));
    const uint32_t mbl = std::min(cfg_.max_burst_length, params_.max_burst_length);
    const uint32_t fbl = std::min(cfg_.first_burst_length, mbl);
    if (!negotiated_.count("FirstBurstLength") && fbl < params_.first_burst_length)
      offer("FirstBurstLength", std::to_string(fbl));
    if (!negotiated_.count("ImmediateData") && !cfg_.immediate_data && params_.immediate_data)
      offer("ImmediateData", "No");
    if (!negotiated_.count("InitialR2T") && cfg_.initial_r2t && !params_.initial_r2t) offer("InitialR2T", "Yes");
  }
  return out;
}

std::optional<LoginResult> LoginStateMachine::offer_answer(const std::string& key, const std::string& value) {
  const std::string ours = offered_[key];
  offered_.erase(key);
  if (key == "HeaderDigest" || key == "DataDigest") {
    const bool header = key == "HeaderDigest";
    auto d = parse_digest(value);
    if (!d || !contains(header ? cfg_.header_digests : cfg_.data_digests, *d))
      return fail(LoginStatus::initiator_error, key + " answer " + value + " not acceptable");
    (header ? params_.header_digest : params_.data_digest) = *d == Digest::crc32c;
  } else if (key == "MaxBurstLength" || key == "FirstBurstLength") {
    auto v = parse_number(value);
    if (!v || *v < kMinDataLength || *v > *parse_number(ours))
      return fail(LoginStatus::initiator_error, key + " answer " + value + " not acceptable");
    (key == "MaxBurstLength" ? params_.max_burst_length : params_.first_burst_length) = uint32_t(*v);
  } else if (key == "ImmediateData" || key == "InitialR2T") {
    if (!parse_bool(value)) return fail(LoginStatus::initiator_error, key + " answer " + value + " not acceptable");
    // AND with our No / OR with our Yes: the result is our value whatever the answer.
    (key == "ImmediateData" ? params_.immediate_data : params_.initial_r2t) = ours == "Yes";
  }
  return std::nullopt;
}

std::optional<LoginResult> LoginStateMachine::finish_checks() {
  if (!contains(cfg_.header_digests, params_.header_digest ? Digest::crc32c : Digest::none))
    return fail(LoginStatus::initiator_error, "HeaderDigest policy not met");
  if (!contains(cfg_.data_digests, params_.data_digest ? Digest::crc32c : Digest::none))
    return fail(LoginStatus::initiator_error, "DataDigest policy not met");
  // FirstBurstLength may still be its default above a smaller negotiated MaxBurstLength.
  params_.first_burst_length = std::min(params_.first_burst_length, params_.max_burst_length);
  params_.target_max_recv_data_segment_length = cfg_.max_recv_data_segment_length;
  return std::nullopt;
}

}  // namespace stmf::iscsi
