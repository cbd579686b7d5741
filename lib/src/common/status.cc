// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "weightless/status.h"

#include <cstdio>

namespace weightless {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kInvalidArgument:
      return "Invalid argument";
    case StatusCode::kNotFound:
      return "Not found";
    case StatusCode::kCorruption:
      return "Corruption";
    case StatusCode::kNotSupported:
      return "Not supported";
    case StatusCode::kIOError:
      return "IO error";
    case StatusCode::kOutOfRange:
      return "Out of range";
    case StatusCode::kBuildFailed:
      return "Build failed";
    case StatusCode::kInternal:
      return "Internal error";
  }
  return "Unknown";
}

Status::Status(StatusCode code, std::string_view msg, std::string_view msg2)
    : Status(code, 0, msg, msg2) {}

Status::Status(StatusCode code, int detail, std::string_view msg, std::string_view msg2) {
  if (code == StatusCode::kOk) code = StatusCode::kInternal;  // see REQUIRES
  rep_ = std::make_unique<Rep>();
  rep_->code = code;
  rep_->detail = detail;
  rep_->message.reserve(msg.size() + (msg2.empty() ? 0 : msg2.size() + 2));
  rep_->message.append(msg);
  if (!msg2.empty()) {
    rep_->message.append(": ");
    rep_->message.append(msg2);
  }
}

Status::Status(const Status& other)
    : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
  return *this;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out = StatusCodeName(rep_->code);
  out.append(": ");
  out.append(rep_->message);
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return Status();
  return Status(rep_->code, rep_->detail, context, rep_->message);
}

namespace internal {
void AbortWithStatus(const char* what, const Status& status) {
  std::fprintf(stderr, "weightless: %s: %s\n", what, status.ToString().c_str());
  std::abort();
}
}  // namespace internal

}  // namespace weightless
