// MyJdbc - MariaDB Connector/J through molt-lms (test_50_mysql_clients.py).
//
// Usage: java -cp mariadb-java-client.jar:DIR MyJdbc JDBC_URL USER PASSWORD TABLE
//        java -cp mariadb-java-client.jar:DIR MyJdbc JDBC_URL USER PASSWORD --cancel
//
// Runs one fixed script against the URL (which carries the TLS, prepared
// statement and multi-query options) and prints one "name=value" line per
// result for the test to compare.  A SQLException prints
// "error=<code> <sqlstate> <message>" and exits 2; the test expects that
// only for a wrong password or an untrusted certificate.  --cancel: runs
// select sleep(20) and Statement.cancel()s it from another thread after
// one second (Connector/J sends KILL QUERY <greeting's id> on a second
// connection), then uses the connection again.

import java.io.ByteArrayInputStream;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.Arrays;

public class MyJdbc {
    static final int BATCH = 500;
    static final int BLOB = 3 * 1024 * 1024;

    public static void main(String[] args) {
        if (args.length != 4) {
            System.err.println("usage: MyJdbc JDBC_URL USER PASSWORD TABLE");
            System.exit(64);
        }
        try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
            if (args[3].equals("--cancel")) {
                cancel(c);
                return;
            }
            run(c, args[3]);
        } catch (SQLException e) {
            System.out.println("error=" + e.getErrorCode() + " " + e.getSQLState() + " " + e.getMessage());
            System.exit(2);
        }
    }

    static void cancel(Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            Thread t = new Thread(() -> {
                try {
                    Thread.sleep(1000);
                    s.cancel();
                } catch (Exception e) {
                    print("cancel_failed", e);
                }
            });
            t.start();
            long t0 = System.nanoTime();
            try (ResultSet r = s.executeQuery("select sleep(20)")) {
                r.next();
                print("sleep", r.getString(1));
            } catch (SQLException e) {
                print("cancelled", e.getErrorCode() + " " + e.getSQLState());
            }
            print("elapsed_ms", (System.nanoTime() - t0) / 1000000);
            try (ResultSet r = s.executeQuery("select 'still here'")) {
                r.next();
                print("after_cancel", r.getString(1));
            }
        }
    }

    static void print(String name, Object value) {
        System.out.println(name + "=" + value);
    }

    /* The script: identity, a typed round trip, a batch, long data, a
       transaction, multi-statements and an error that leaves the session usable. */
    static void run(Connection c, String t) throws SQLException {
        try (Statement s = c.createStatement()) {
            try (ResultSet r = s.executeQuery("select current_user(), database()")) {
                r.next();
                print("user", r.getString(1));
                print("database", r.getString(2));
            }
            s.execute("drop table if exists " + t);
            s.execute("create table " + t + " (id int primary key, name varchar(64), amount decimal(12,2),"
                      + " at datetime(6), flag tinyint, data longblob) default charset=utf8mb4");
        }
        roundTrip(c, t);
        batch(c, t);
        longData(c, t);
        transaction(c, t);
        multi(c, t);
        errorThenGoOn(c, t);
        try (Statement s = c.createStatement()) {
            s.execute("drop table " + t);
        }
        print("done", "ok");
    }

    static void roundTrip(Connection c, String t) throws SQLException {
        try (PreparedStatement p = c.prepareStatement("insert into " + t + " (id, name, amount, at, flag, data)"
                                                      + " values (?, ?, ?, ?, ?, ?)")) {
            p.setInt(1, 1);
            p.setString(2, "zo\u00eb \u2603");
            p.setBigDecimal(3, new BigDecimal("12345.67"));
            p.setTimestamp(4, Timestamp.valueOf("2026-11-30 12:34:56.789012"));
            p.setNull(5, Types.TINYINT);
            p.setBytes(6, new byte[] {0, 1, 2, (byte) 0xff});
            print("insert1", p.executeUpdate());
        }
        try (PreparedStatement p = c.prepareStatement("select name, amount, at, flag, hex(data) from " + t
                                                      + " where id = ?")) {
            p.setInt(1, 1);
            try (ResultSet r = p.executeQuery()) {
                r.next();
                print("name", r.getString(1));
                print("amount", r.getBigDecimal(2));
                print("at", r.getTimestamp(3));
                r.getInt(4);
                print("flag_null", r.wasNull());
                print("data", r.getString(5));
            }
        }
    }

    static void batch(Connection c, String t) throws SQLException {
        try (PreparedStatement p = c.prepareStatement("insert into " + t + " (id, name, amount) values (?, ?, ?)")) {
            for (int i = 0; i < BATCH; i++) {
                p.setInt(1, 1000 + i);
                p.setString(2, "row " + i);
                p.setBigDecimal(3, BigDecimal.valueOf(i, 2));
                p.addBatch();
            }
            int[] counts = p.executeBatch();
            long ones = Arrays.stream(counts).filter(n -> n == 1 || n == Statement.SUCCESS_NO_INFO).count();
            print("batch", counts.length + "/" + ones);
        }
        try (PreparedStatement p = c.prepareStatement("select count(*), sum(amount) from " + t
                                                      + " where id >= ? and id < ?")) {
            p.setInt(1, 1000);
            p.setInt(2, 1000 + BATCH);
            try (ResultSet r = p.executeQuery()) {
                r.next();
                print("batch_rows", r.getLong(1) + " " + r.getBigDecimal(2));
            }
        }
    }

    static void longData(Connection c, String t) throws SQLException {
        byte[] blob = new byte[BLOB];
        for (int i = 0; i < blob.length; i++) {
            blob[i] = (byte) (i * 31);
        }
        try (PreparedStatement p = c.prepareStatement("insert into " + t + " (id, data) values (?, ?)")) {
            p.setInt(1, 2);
            p.setBinaryStream(2, new ByteArrayInputStream(blob), blob.length);
            p.executeUpdate();
        }
        try (PreparedStatement p = c.prepareStatement("select data, length(data), md5(data) from " + t
                                                      + " where id = ?")) {
            p.setInt(1, 2);
            try (ResultSet r = p.executeQuery()) {
                r.next();
                print("blob_equal", Arrays.equals(blob, r.getBytes(1)));
                print("blob_len", r.getLong(2));
            }
        }
    }

    static void transaction(Connection c, String t) throws SQLException {
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
            s.executeUpdate("insert into " + t + " (id, name) values (3, 'rolled back')");
            c.rollback();
            s.executeUpdate("insert into " + t + " (id, name) values (4, 'committed')");
            c.commit();
        }
        c.setAutoCommit(true);
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(
                 "select group_concat(id order by id) from " + t + " where id in (3, 4)")) {
            r.next();
            print("tx", r.getString(1));
        }
    }

    /* Several statements in one COM_QUERY (allowMultiQueries=true): every
       result set and update count comes back in order. */
    static void multi(Connection c, String t) throws SQLException {
        StringBuilder out = new StringBuilder();
        try (Statement s = c.createStatement()) {
            boolean isResult = s.execute("select 'a'; update " + t + " set flag = 1 where id >= 1000;"
                                         + " select count(*) from " + t + " where flag = 1; do 1");
            while (true) {
                if (isResult) {
                    try (ResultSet r = s.getResultSet()) {
                        while (r.next()) {
                            out.append("[").append(r.getString(1)).append("]");
                        }
                    }
                } else {
                    int n = s.getUpdateCount();
                    if (n == -1) {
                        break;
                    }
                    out.append("(").append(n).append(")");
                }
                isResult = s.getMoreResults();
            }
        }
        print("multi", out);
    }

    static void errorThenGoOn(Connection c, String t) throws SQLException {
        try (PreparedStatement p = c.prepareStatement("insert into " + t + " (id) values (?)")) {
            p.setInt(1, 1);
            p.executeUpdate();
            print("dup", "none");
        } catch (SQLException e) {
            print("dup", e.getErrorCode() + " " + e.getSQLState());
        }
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("select 'still here'")) {
            r.next();
            print("after_error", r.getString(1));
        }
    }
}
