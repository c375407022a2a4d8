"""edge: the roadside ANPR daemon (source -> localise -> read -> track/vote -> zone -> record -> spool -> publish)."""

__version__ = "0.1.0"
