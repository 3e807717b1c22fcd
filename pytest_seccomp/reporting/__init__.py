"""What a session tells: the summary, the JSON report, the HTML pages, CI's summary."""
