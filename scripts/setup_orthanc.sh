#!/usr/bin/env bash
# Orthanc with its DICOMweb plugin (Debian packages orthanc, orthanc-dicomweb), for the MONAI Label app's
# DICOMweb tests. Installs them with apt-get when they are missing and this is root; otherwise says why and
# exits 0: the tests that need Orthanc then skip with that reason. Nothing is started here (each test run
# starts its own Orthanc on 127.0.0.1 with a throwaway storage folder); the package's own service is not used.
set -uo pipefail
PLUGIN=/usr/share/orthanc/plugins/libOrthancDicomWeb.so
if command -v Orthanc >/dev/null 2>&1 && [ -f "$PLUGIN" ]; then
    echo "setup_orthanc: $(Orthanc --version 2>/dev/null | head -1) with the DICOMweb plugin"
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_orthanc: Orthanc is not installed and apt-get as root is not available here: the DICOMweb tests will skip"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if { apt-get update -qq && apt-get install -y -qq --no-install-recommends orthanc orthanc-dicomweb; } >/tmp/setup_orthanc.log 2>&1; then
    # the Debian package may have started its own service: this project never uses it
    if command -v service >/dev/null 2>&1; then service orthanc stop >/dev/null 2>&1 || true; fi
    echo "setup_orthanc: installed $(Orthanc --version 2>/dev/null | head -1) with the DICOMweb plugin"
else
    echo "setup_orthanc: apt-get could not install orthanc/orthanc-dicomweb (see /tmp/setup_orthanc.log): the DICOMweb tests will skip"
fi
exit 0
