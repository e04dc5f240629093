"""The NAS route (`backup-nas`, `verify nas`): every downloaded resource copied to the NAS folder
and re-read, the NAS's identity and mount checked before every write, repairs from any good
source."""
