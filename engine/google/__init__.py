"""The Google route (`backup-google`, `doctor`): the Pixel fed by Syncthing from the outbox."""
