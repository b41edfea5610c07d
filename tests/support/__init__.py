"""pytest glue for the suite: the run's session from the command line (the engine itself is lossparity/)."""
