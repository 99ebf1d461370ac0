"""The small members of an xbstream file, read where the file lies, without unpacking it.

An xbstream's GTID position and server version are members of the stream
(`xtrabackup_binlog_info`, `xtrabackup_info`, ...), written near its END: mariadb-backup
writes them after it has copied the data files. `mbstream -x` into a temporary directory would
write on the backup host (and need the space of the whole backup, or mbstream's own file
filter, and a cleanup); a `head` sees only the first data file.

So a small parser runs on the backup host and walks the stream's chunk headers: each chunk is
`XBSTCK01`, a flags byte, a type byte (`P` payload, `E` end of a member), the path's length
(4 bytes, little-endian) and the path, then for a payload its length and offset (8 bytes
each) and a CRC32 (4 bytes) before the data (extra/mariabackup/xbstream_write.cc). It
prints the payload of the few members wanted, as hex, and skips every other payload: with
`seek` in a plain file (only the headers are read: well under a second for any size), or by
reading past it when the stream comes decompressed through a pipe (gzip/zstd/xz/bzip2: the
whole file is decompressed once on the backup host; nothing is written anywhere). It writes
nothing, so it is as read-only as `cat`. The parser is Perl because Perl is on every Debian
host (perl-base is Essential), where Python or mbstream may not be; the wizard checks here
what it printed (each chunk's CRC32, the members' offsets), so a stream that is cut short or
damaged is refused, not half-read.

A stream made with `--compress` (qpress, `.qp` members) is refused by the caller: qpress is
not in Debian, so the replicas could not unpack it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from moodle_wizard.core.errors import StepError

__all__ = ["MEMBERS", "PARSER", "StreamMembers", "XbstreamError", "parse_parser_output"]

# The members the wizard reads (the rest of the stream is skipped).
MEMBERS = ("xtrabackup_checkpoints", "xtrabackup_info", "mariadb_backup_info",
           "xtrabackup_binlog_info", "mariadb_backup_binlog_info")

# Reads the stream from the file named by its argument (seeking over payloads), or from stdin
# (reading past them). Prints `P<TAB>path<TAB>offset<TAB>crc32<TAB>hex` for each payload chunk
# of a wanted member, and at the end `MEMBERS<TAB>n<TAB>qp<TAB>encrypted` (the number of
# members, those named *.qp, *.xbcrypt), then `END`. Dies (exit 2) on anything else than
# xbstream. 64-bit numbers are read as two 32-bit halves: any Perl can.
PARSER = r"""
use strict; use warnings;
my %want = map { $_ => 1 } qw(""" + " ".join(MEMBERS) + r""");
my ($fh, $seek);
if (@ARGV) { open($fh, '<:raw', $ARGV[0]) or do { print STDERR "cannot open: $!\n"; exit 3 };
             $seek = 1; }
else { $fh = \*STDIN; binmode($fh); $seek = 0; }
sub rd { my ($n) = @_; my $buf = '';
  while (length($buf) < $n) {
    my $r = read($fh, $buf, $n - length($buf), length($buf));
    die "read failed: $!\n" unless defined $r;
    last if $r == 0; }
  return $buf; }
sub skip { my ($n) = @_;
  if ($seek) { seek($fh, $n, 1) or die "seek failed: $!\n"; return; }
  while ($n > 0) { my $k = $n > 1048576 ? 1048576 : $n; my $got = length(rd($k));
    die "the stream ends inside a chunk\n" if $got < $k; $n -= $k; } }
my %seen; my ($qp, $enc) = (0, 0);
while (1) {
  my $h = rd(14);
  last if length($h) == 0;
  if (length($h) < 14) { print STDERR "the stream ends inside a chunk header\n"; exit 2 }
  my ($magic, $flags, $type, $plen) = unpack('a8 C a1 V', $h);
  if ($magic ne 'XBSTCK01') { print STDERR "not an xbstream chunk\n"; exit 2 }
  if ($plen > 4096) { print STDERR "a chunk path of $plen bytes\n"; exit 2 }
  my $path = rd($plen);
  if (!$seen{$path}++) { $qp++ if $path =~ /\.qp$/; $enc++ if $path =~ /\.xbcrypt$/; }
  next if $type eq 'E';
  if ($type ne 'P') { print STDERR "a chunk of type '$type'\n"; exit 2 }
  my ($l0, $l1, $o0, $o1, $crc) = unpack('V V V V V', rd(20));
  my ($len, $off) = ($l1 * 4294967296 + $l0, $o1 * 4294967296 + $o0);
  if ($want{$path} && $len <= 1048576) {
    my $data = rd($len);
    if (length($data) < $len) { print STDERR "the stream ends inside a chunk\n"; exit 2 }
    print "P\t$path\t$off\t$crc\t", unpack('H*', $data), "\n";
  } else { skip($len); }
}
print "MEMBERS\t", scalar(keys %seen), "\t$qp\t$enc\nEND\n";
"""


class XbstreamError(StepError):
    """The parser's output shows a damaged stream."""


@dataclass
class StreamMembers:
    """What the parser found: the wanted members' bytes, and the members' counts."""

    files: dict[str, bytes] = field(default_factory=dict)
    members: int = 0
    qpress: int = 0
    encrypted: int = 0

    def text(self, *names: str) -> str | None:
        """The first of `names` the stream holds, as text."""
        for name in names:
            if name in self.files:
                return self.files[name].decode("utf-8", "replace")
        return None


def parse_parser_output(out: str, where: str) -> StreamMembers:
    """The parser's stdout; every chunk's CRC32 and offset checked. `where` names the file."""
    found = StreamMembers()
    ended = False
    for line in out.splitlines():
        fields = line.split("\t")
        if fields[0] == "P" and len(fields) == 5:
            path, offset, crc, data = fields[1], int(fields[2]), int(fields[3]), \
                bytes.fromhex(fields[4])
            if zlib.crc32(data) != crc:
                raise XbstreamError(f"{where}: the xbstream member {path} fails its checksum: "
                                    "the file is damaged; take the backup again")
            have = found.files.get(path, b"")
            if offset != len(have):
                raise XbstreamError(f"{where}: the xbstream member {path} has a gap at byte "
                                    f"{len(have)}: the file is damaged; take the backup again")
            found.files[path] = have + data
        elif fields[0] == "MEMBERS" and len(fields) == 4:
            found.members, found.qpress, found.encrypted = (int(x) for x in fields[1:])
        elif fields[0] == "END":
            ended = True
    if not ended:
        raise XbstreamError(f"{where}: the xbstream could not be read to its end; take the "
                            "backup again")
    return found
