"""The pure core of swiftwal: WAL names, LSNs, timelines, backup records and the
retention and cleanup plans.  Nothing here does I/O or reads a clock."""
