"""The report: read finished results, build the leaderboard, its charts and html, the analyses, the explorer and the live view. A leaf: nothing outside it imports it (but the CLI)."""
