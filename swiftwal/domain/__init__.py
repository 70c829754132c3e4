"""The pure core of swiftwal: WAL names, LSNs, timelines, backup records, the
retention and cleanup plans, and what the commands conclude (verify's verdicts,
info's report, check's judgement of the server's settings).  Nothing here does
I/O or reads a clock."""
