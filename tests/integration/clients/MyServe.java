// MyServe - one MariaDB Connector/J connection kept open across a cutover
// (test_57_mysql_served.py).
//
// Usage: java -cp mariadb-java-client.jar:DIR MyServe JDBC_URL USER PASSWORD
//
// Reads commands on stdin, one a line, and answers each with lines ending
// in "END":
//   Q <sql>              execute; "row=v1|v2|..." per row (getString, NULL
//                        as \N), or "count=N"
//   P <name> <sql>       prepareStatement (server-side with
//                        useServerPrepStmts=true in the URL)
//   X <name> [p1|p2...]  execute the prepared statement with string
//                        parameters (\N for NULL), answered as Q
//   T <sql>              typed: the first row's first columns as getInt,
//                        getBigDecimal, getTimestamp, getDate, getBoolean,
//                        getBytes (hex), getDouble: "typed=..."
//   V                    isValid(5): "valid=true|false"
//   K <sql>              executeUpdate with RETURN_GENERATED_KEYS:
//                        "count=N", then "keys=k1,k2,..." (getGeneratedKeys)
//   G <name> <sql>       prepareStatement with RETURN_GENERATED_KEYS; X on it
//                        prints "keys=..." after its count
//   A 0|1                setAutoCommit: "autocommit=false|true"
//   C, R                 commit, rollback: "committed", "rolled back"
//   I <LEVEL>            setTransactionIsolation (READ_COMMITTED, ...), then
//                        getTransactionIsolation: "isolation=<LEVEL>"
// A SQLException prints "error=<code> <sqlstate> <message>" and the
// connection stays open.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

public class MyServe {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: MyServe JDBC_URL USER PASSWORD");
            System.exit(64);
        }
        Map<String, PreparedStatement> stmts = new HashMap<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
            System.out.println("connected END");
            System.out.flush();
            String line;
            while ((line = in.readLine()) != null) {
                try {
                    run(c, stmts, line);
                } catch (SQLException e) {
                    System.out.println("error=" + e.getErrorCode() + " " + e.getSQLState() + " " + e.getMessage());
                }
                System.out.println("END");
                System.out.flush();
            }
        }
    }

    static final Set<String> keyed = new HashSet<>();

    static void keys(Statement s) throws SQLException {
        StringBuilder b = new StringBuilder("keys=");
        try (ResultSet rs = s.getGeneratedKeys()) {
            for (int i = 0; rs.next(); i++)
                b.append(i > 0 ? "," : "").append(rs.getLong(1));
        }
        System.out.println(b);
    }

    static void run(Connection c, Map<String, PreparedStatement> stmts, String line) throws SQLException {
        String op = line.substring(0, 1);
        String rest = line.length() > 2 ? line.substring(2) : "";
        switch (op) {
        case "Q":
            try (Statement s = c.createStatement()) {
                print(s.execute(rest), s);
            }
            return;
        case "P": {
            int sp = rest.indexOf(' ');
            stmts.put(rest.substring(0, sp), c.prepareStatement(rest.substring(sp + 1)));
            System.out.println("prepared");
            return;
        }
        case "X": {
            int sp = rest.indexOf(' ');
            String name = sp < 0 ? rest : rest.substring(0, sp);
            PreparedStatement ps = stmts.get(name);
            if (sp >= 0) {
                String[] ps_args = rest.substring(sp + 1).split("\\|", -1);
                for (int i = 0; i < ps_args.length; i++)
                    if (ps_args[i].equals("\\N"))
                        ps.setNull(i + 1, java.sql.Types.VARCHAR);
                    else
                        ps.setString(i + 1, ps_args[i]);
            }
            print(ps.execute(), ps);
            if (keyed.contains(name))
                keys(ps);
            return;
        }
        case "T":
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(rest)) {
                rs.next();
                StringBuilder b = new StringBuilder("typed=");
                b.append(rs.getInt(1)).append('|').append(rs.getBigDecimal(2)).append('|')
                    .append(rs.getTimestamp(3)).append('|').append(rs.getDate(4)).append('|')
                    .append(rs.getBoolean(5)).append('|');
                for (byte x : rs.getBytes(6))
                    b.append(String.format("%02X", x));
                b.append('|').append(rs.getDouble(7));
                System.out.println(b);
            }
            return;
        case "V":
            System.out.println("valid=" + c.isValid(5));
            return;
        case "A":
            c.setAutoCommit(rest.equals("1"));
            System.out.println("autocommit=" + c.getAutoCommit());
            return;
        case "I": {
            String[] names = { "READ_UNCOMMITTED", "READ_COMMITTED", "REPEATABLE_READ", "SERIALIZABLE" };
            int[] levels = { Connection.TRANSACTION_READ_UNCOMMITTED, Connection.TRANSACTION_READ_COMMITTED,
                             Connection.TRANSACTION_REPEATABLE_READ, Connection.TRANSACTION_SERIALIZABLE };
            for (int i = 0; i < names.length; i++)
                if (names[i].equals(rest))
                    c.setTransactionIsolation(levels[i]);
            int got = c.getTransactionIsolation();
            for (int i = 0; i < names.length; i++)
                if (levels[i] == got)
                    System.out.println("isolation=" + names[i]);
            return;
        }
        case "C":
            c.commit();
            System.out.println("committed");
            return;
        case "R":
            c.rollback();
            System.out.println("rolled back");
            return;
        case "K":
            try (Statement s = c.createStatement()) {
                System.out.println("count=" + s.executeUpdate(rest, Statement.RETURN_GENERATED_KEYS));
                keys(s);
            }
            return;
        case "G": {
            int sp = rest.indexOf(' ');
            String name = rest.substring(0, sp);
            stmts.put(name, c.prepareStatement(rest.substring(sp + 1), Statement.RETURN_GENERATED_KEYS));
            keyed.add(name);
            System.out.println("prepared");
            return;
        }
        default:
            System.out.println("unknown command");
        }
    }

    static void print(boolean hasRows, Statement s) throws SQLException {
        if (!hasRows) {
            System.out.println("count=" + s.getUpdateCount());
            return;
        }
        try (ResultSet rs = s.getResultSet()) {
            int n = rs.getMetaData().getColumnCount();
            while (rs.next()) {
                StringBuilder b = new StringBuilder("row=");
                for (int i = 1; i <= n; i++) {
                    String v = rs.getString(i);
                    b.append(i > 1 ? "|" : "").append(v == null ? "\\N" : v);
                }
                System.out.println(b);
            }
        }
    }
}
