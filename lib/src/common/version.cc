// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "weightless/version.h"

namespace weightless {

int VersionNumber() { return WEIGHTLESS_VERSION_NUMBER; }
const char* VersionString() { return WEIGHTLESS_VERSION_STRING; }

}  // namespace weightless
