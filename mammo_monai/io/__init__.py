"""Reading mammograms (DICOM, PNG/PGM) with their metadata."""
