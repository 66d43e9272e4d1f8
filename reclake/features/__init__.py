"""What models learn from: interaction strengths from events (``interactions``), item content (``content``)."""
