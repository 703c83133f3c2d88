// my_serve.go - one go-sql-driver/mysql connection kept open across a
// cutover (test_57_mysql_served.py), driven as MyServe.java is.
//
// Usage: my_serve DSN
// (with LMS_CA set to a CA file, the DSN may say tls=lms: the proxy's
// certificate is verified against it, for the host name "localhost"; with
// LMS_CERT and LMS_KEY too, the client presents that certificate)
//
// Reads commands on stdin, one a line, and answers each with lines ending
// in "END":
//   Q <sql>              query: "row=v1|v2|..." per row (NULL as \N)
//   E <sql>              exec: "count=N id=M" (RowsAffected, LastInsertId)
//   P <name> <sql>       prepare (server-side unless interpolateParams=true
//                        in the DSN, where arguments are sent in the text)
//   X <name> [p1|p2...]  query the prepared statement with string
//                        parameters (\N for NULL), answered as Q
//   Y <name> [p1|p2...]  exec it, answered as E
//   C <name>             close it: "closed"
//   V                    ping: "valid=true"
// An error prints "error=<errno> <sqlstate> <message>" (errno 0 when it is
// not the database's) and the connection stays open.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-sql-driver/mysql"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: my_serve DSN")
		os.Exit(64)
	}
	if ca := os.Getenv("LMS_CA"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(66)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		conf := &tls.Config{RootCAs: pool, ServerName: "localhost"}
		if crt := os.Getenv("LMS_CERT"); crt != "" {
			pair, err := tls.LoadX509KeyPair(crt, os.Getenv("LMS_KEY"))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(66)
			}
			conf.Certificates = []tls.Certificate{pair}
		}
		mysql.RegisterTLSConfig("lms", conf)
	}
	db, err := sql.Open("mysql", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(65)
	}
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err == nil {
		err = conn.PingContext(ctx)
	}
	if err != nil {
		fmt.Println(describe(err), "END")
		os.Exit(1)
	}
	fmt.Println("connected END")
	stmts := map[string]*sql.Stmt{}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		if err := run(ctx, conn, stmts, in.Text()); err != nil {
			fmt.Println(describe(err))
		}
		fmt.Println("END")
	}
	conn.Close()
	db.Close()
}

func describe(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return fmt.Sprintf("error=%d %s", me.Number, me.Message)
	}
	return "error=0 " + err.Error()
}

func args(s string) []interface{} {
	var out []interface{}
	for _, a := range strings.Split(s, "|") {
		if a == `\N` {
			out = append(out, nil)
		} else {
			out = append(out, a)
		}
	}
	return out
}

// split "name rest" into name and rest ("" when there is none).
func split(s string) (string, string) {
	if sp := strings.IndexByte(s, ' '); sp >= 0 {
		return s[:sp], s[sp+1:]
	}
	return s, ""
}

func run(ctx context.Context, c *sql.Conn, stmts map[string]*sql.Stmt, line string) error {
	op, rest := split(line)
	switch op {
	case "Q":
		rows, err := c.QueryContext(ctx, rest)
		if err != nil {
			return err
		}
		return printRows(rows)
	case "E":
		res, err := c.ExecContext(ctx, rest)
		if err != nil {
			return err
		}
		return printResult(res)
	case "P":
		name, text := split(rest)
		st, err := c.PrepareContext(ctx, text)
		if err != nil {
			return err
		}
		stmts[name] = st
		fmt.Println("prepared")
	case "X", "Y":
		name, params := split(rest)
		st := stmts[name]
		if st == nil {
			return errors.New("no statement " + name)
		}
		var a []interface{}
		if params != "" {
			a = args(params)
		}
		if op == "Y" {
			res, err := st.ExecContext(ctx, a...)
			if err != nil {
				return err
			}
			return printResult(res)
		}
		rows, err := st.QueryContext(ctx, a...)
		if err != nil {
			return err
		}
		return printRows(rows)
	case "C":
		if st := stmts[rest]; st != nil {
			st.Close()
			delete(stmts, rest)
		}
		fmt.Println("closed")
	case "V":
		if err := c.PingContext(ctx); err != nil {
			return err
		}
		fmt.Println("valid=true")
	default:
		fmt.Println("unknown command")
	}
	return nil
}

func printResult(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	fmt.Printf("count=%d id=%d\n", n, id)
	return nil
}

func printRows(rows *sql.Rows) error {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]interface{}, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		out := make([]string, len(cols))
		for i, v := range vals {
			if v == nil {
				out[i] = `\N`
			} else {
				out[i] = string(v)
			}
		}
		fmt.Println("row=" + strings.Join(out, "|"))
	}
	return rows.Err()
}
