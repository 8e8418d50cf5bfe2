// What this build is: the version from the repository's VERSION file and the git commit it was
// built from, both fixed by Package.swift when the package is built (one place for each).
#ifndef VIRTPLACE_BUILD_INFO_H
#define VIRTPLACE_BUILD_INFO_H

/// The release version, e.g. "0.2.0".
const char *virtplace_build_version(void);
/// The git commit (40 hex digits, "-dirty" appended for uncommitted changes), or "unknown".
const char *virtplace_build_commit(void);

#endif
