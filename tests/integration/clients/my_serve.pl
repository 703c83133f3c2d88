#!/usr/bin/perl
# my_serve.pl - one DBD::MariaDB connection kept open across a cutover
# (test_57_mysql_served.py), the Perl twin of MyServe.java.
#
# Usage: my_serve.pl DSN USER PASSWORD
#
# Reads commands on stdin, one a line, and answers each with lines ending
# in "END":
#   Q <sql>              "row=v1|v2|..." per row (undef as \N), or "count=N"
#   P <name> <sql>       prepare (server-side with mariadb_server_prepare=1)
#   X <name> [p1|p2...]  execute it with string parameters (\N for NULL)
# A statement without rows prints "count=N", then "id=N" when the OK
# packet carried a last insert id (mariadb_insertid).
# A failure prints "error=<code> <sqlstate> <message>"; the connection
# stays open.
use strict;
use warnings;
use DBI;

die "usage: $0 DSN USER PASSWORD\n" unless @ARGV == 3;
my $dbh = DBI->connect($ARGV[0], $ARGV[1], $ARGV[2], { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
$| = 1;
print "connected END\n";
my %stmts;

sub show {
	my ($sth, $rv) = @_;
	if ($sth->{NUM_OF_FIELDS}) {
		while (my @r = $sth->fetchrow_array) {
			print "row=" . join('|', map { defined $_ ? $_ : '\N' } @r) . "\n";
		}
	} else {
		print "count=" . ($rv + 0) . "\n";
		print "id=" . $sth->{mariadb_insertid} . "\n" if $sth->{mariadb_insertid};
	}
}

while (my $line = <STDIN>) {
	chomp $line;
	my ($op, $rest) = ($line =~ /^(\S)\s?(.*)$/);
	eval {
		if ($op eq 'Q') {
			my $sth = $dbh->prepare($rest);
			show($sth, $sth->execute);
		} elsif ($op eq 'P') {
			my ($name, $sql) = ($rest =~ /^(\S+) (.*)$/);
			$stmts{$name} = $dbh->prepare($sql);
			print "prepared\n";
		} elsif ($op eq 'X') {
			my ($name, $args) = ($rest =~ /^(\S+) ?(.*)$/);
			my @p = map { $_ eq '\N' ? undef : $_ } split(/\|/, $args, -1);
			my $sth = $stmts{$name};
			show($sth, $sth->execute(@p));
		}
		1;
	} or print "error=" . ($DBI::err // 0) . " " . ($DBI::state // '') . " " . ($DBI::errstr // $@) . "\n";
	print "END\n";
}
$dbh->disconnect;
