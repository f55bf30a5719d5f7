"""Database servers: dumping live ones at backup time, and throw-away ones a drill starts on the
restored dumps (docs/databases.md). Every program runs through drkit/engines/process.py."""
