#!/usr/bin/perl
# my_dbd.pl - Perl DBI with DBD::MariaDB through molt-lms (test_50_mysql_clients.py).
#
# Usage: my_dbd.pl DSN USER PASSWORD TABLE
#
# Runs one fixed script against the DSN (which carries the TLS, server-side
# prepare and multi-statement options) and prints one "name=value" line per
# result.  A connection failure prints "error=<code> <sqlstate> <message>"
# and exits 2.
use strict;
use warnings;
use utf8;
use DBI;

binmode(STDOUT, ':encoding(UTF-8)');
die "usage: $0 DSN USER PASSWORD TABLE\n" unless @ARGV == 4;
my ($dsn, $user, $password, $t) = @ARGV;

my $dbh = DBI->connect($dsn, $user, $password, { RaiseError => 0, PrintError => 0, AutoCommit => 1 });
if (!$dbh) {
	print "error=$DBI::err $DBI::state $DBI::errstr\n";
	exit 2;
}
$dbh->{RaiseError} = 1;

sub out { print "$_[0]=$_[1]\n"; }

my ($who, $db) = $dbh->selectrow_array('select current_user(), database()');
out('user', $who);
out('database', $db);
out('server_prepare', $dbh->{mariadb_server_prepare} ? 1 : 0);
$dbh->do("drop table if exists $t");
$dbh->do("create table $t (id int primary key, name varchar(64), amount decimal(12,2), data longblob)"
	 . " default charset=utf8mb4");

# a typed round trip through placeholders
my $ins = $dbh->prepare("insert into $t (id, name, amount, data) values (?, ?, ?, ?)");
$ins->bind_param(1, 1, DBI::SQL_INTEGER);
$ins->bind_param(2, "zo\x{eb} \x{2603}");
$ins->bind_param(3, '12345.67');
$ins->bind_param(4, "\0\1\2\xff", DBI::SQL_BLOB);
out('insert1', $ins->execute);
$ins->execute(2, undef, undef, undef);
my $sel = $dbh->prepare("select name, amount, hex(data) from $t where id = ?");
$sel->execute(1);
my @r = $sel->fetchrow_array;
out('name', $r[0]);
out('amount', $r[1]);
out('data', $r[2]);
$sel->execute(2);
@r = $sel->fetchrow_array;
out('nulls', join(',', map { defined $_ ? 'v' : 'null' } @r));

# the same statement executed many times, then execute_array
my $n = 0;
$n += $ins->execute(100 + $_, "row $_", $_ / 100, 'x' x $_) for 0 .. 199;
out('executed', $n);
my @status;
my $tuples = $ins->execute_array({ ArrayTupleStatus => \@status }, [300 .. 349], [map {"arr $_"} 1 .. 50],
				 [(1) x 50], [('y') x 50]);
out('execute_array', "$tuples " . scalar(grep { defined $_ && $_ == 1 } @status));
my $agg = $dbh->prepare("select count(*), sum(amount), sum(length(data)) from $t where id between ? and ?");
$agg->execute(100, 349);
out('rows', join(' ', $agg->fetchrow_array));

# a 2 MiB value through a placeholder
my $big = join('', map { chr($_ % 251) } 0 .. 2 * 1024 * 1024 - 1);
$ins->execute(3, 'big', 0, $big);
my ($len, $md5) = $dbh->selectrow_array("select length(data), md5(data) from $t where id = ?", undef, 3);
out('big_len', $len);
my ($back) = $dbh->selectrow_array("select data from $t where id = ?", undef, 3);
out('big_equal', $back eq $big ? 1 : 0);

# a transaction rolled back, another committed
$dbh->begin_work;
$dbh->do("insert into $t (id, name) values (4, 'rolled back')");
$dbh->rollback;
$dbh->begin_work;
$dbh->do("insert into $t (id, name) values (5, 'committed')");
$dbh->commit;
out('tx', scalar $dbh->selectrow_array("select group_concat(id order by id) from $t where id in (4, 5)"));

# several statements in one COM_QUERY (mariadb_multi_statements): a
# separate handle, since a server-side prepared statement holds one
my $multi = DBI->connect($dsn . ';mariadb_server_prepare=0;mariadb_multi_statements=1', $user, $password,
			 { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
my $sth = $multi->prepare("select 'a'; update $t set amount = 2 where id >= 300; select count(*) from $t"
			  . " where amount = 2; do 1");
$sth->execute;
my $seen = '';
do {
	if ($sth->{NUM_OF_FIELDS}) {
		while (my $row = $sth->fetchrow_arrayref) {
			$seen .= "[$row->[0]]";
		}
	} else {
		$seen .= '(' . $sth->rows . ')';
	}
} while ($sth->more_results);
out('multi', $seen);
$multi->disconnect;

# an error, then the session goes on
eval { $ins->execute(1, 'dup', 0, undef); };
out('dup', $ins->err . ' ' . $ins->state);
out('after_error', scalar $dbh->selectrow_array('select ?', undef, 'still here'));
$dbh->do("drop table $t");
$dbh->disconnect;
out('done', 'ok');
