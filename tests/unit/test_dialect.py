"""features/dialect.py: DuckDB feature SQL rewritten for Spark (pure: no Spark needed).

The ASOF rewrite is checked for its values on DuckDB itself: the portable interval join,
printed back as DuckDB SQL, gives the ASOF join's rows, ties and gaps included.
"""

from __future__ import annotations

import duckdb
import pytest

pytest.importorskip("sqlglot")

from advocacy.features import dialect
from advocacy.features.state import SCALAR_MACROS


def spark(sql: str) -> str:
    return dialect.to_spark(sql).upper()


def test_every_macro_is_expanded_into_plain_sql():
    for name, (params, _) in SCALAR_MACROS.items():
        args = ", ".join(f"a{i}" for i, _ in enumerate(params.split(",")))
        out = dialect.to_spark(f"SELECT {name}({args}) FROM t").lower()
        assert not any(f"{m}(" in out for m in SCALAR_MACROS), (name, out)


def test_macro_arguments_are_substituted_with_their_precedence():
    out = dialect.to_spark("SELECT seen_at(a + 1, t - 2) FROM x")
    assert out == "SELECT ((a + 1) < (t - 2)) FROM x"


def test_nested_macros_expand_to_the_state_rule():
    out = spark("SELECT ask_pending_at(r, s, c, t) FROM x")
    assert "'PENDING'" in out and "COALESCE" in out and "MAKE_DT_INTERVAL" in out


def test_wrong_number_of_macro_arguments_is_refused():
    with pytest.raises(ValueError, match="seen_at takes 2"):
        dialect.to_spark("SELECT seen_at(a) FROM x")


def test_hash_and_unsigned_masks_become_64_bit_signed():
    out = spark("SELECT hash(c), CAST(1 AS UBIGINT) << CAST(s AS UBIGINT), bit_count(m) FROM t")
    assert "XXHASH64(C)" in out and "UBIGINT" not in out
    assert "SHIFTLEFT(CAST(1 AS BIGINT), CAST(CAST(S AS BIGINT) AS INT))" in out


def test_unnest_range_materialized_anti_join_and_group_by_all():
    sql = """
        WITH p AS MATERIALIZED (SELECT unnest(range(a, b)) AS x FROM t)
        SELECT x, count(*) FROM p ANTI JOIN q USING (x) GROUP BY ALL
    """
    out = spark(sql)
    assert "EXPLODE(" in out and "SEQUENCE(" in out and "MATERIALIZED" not in out
    assert "LEFT ANTI JOIN" in out and "GROUP BY ALL" in out


def test_arg_max_skips_null_values_like_duckdb():
    out = spark("SELECT arg_max(v, (a, b)) FROM t")
    assert out == "SELECT MAX_BY(V, IF(V IS NULL, NULL, STRUCT(A, B))) FROM T"


def test_arg_max_top_n_is_a_sorted_list_best_first():
    out = spark("SELECT arg_max(v, (a, b), 3) AS r FROM t")
    assert "SORT_ARRAY(COLLECT_LIST(" in out and ", FALSE), 1, 3)" in out


def test_list_functions_and_one_based_indexes():
    out = spark("SELECT list_avg(r), array_length(r), r[1], list_contains(['a'], x) FROM t")
    assert "AGGREGATE(" in out and "SIZE(" in out and "R[0]" in out
    assert "ARRAY_CONTAINS(ARRAY('A'), X)" in out


def test_time_functions():
    out = spark("SELECT epoch(CAST(t AS TIMESTAMP)), to_days(3), date_diff('day', a, b) FROM x")
    assert "UNIX_MICROS(" in out and "MAKE_DT_INTERVAL(CAST(3 AS INT))" in out
    assert "DATEDIFF(DAY, A, B)" in out
    assert "TIMESTAMP_NTZ" in spark("SELECT CAST(x AS TIMESTAMP) FROM t")  # naive, as DuckDB


def test_decimal_literals_are_doubles_and_infinity_the_last_day():
    out = spark("SELECT (x + 1.2) / (y + 3.0), CAST('infinity' AS TIMESTAMP) FROM t")
    assert "CAST(1.2 AS DOUBLE)" in out and "CAST(3.0 AS DOUBLE)" in out
    assert "9999-12-31" in out


def test_row_number_over_nothing_is_ordered_by_the_select_columns():
    out = spark("SELECT row_number() OVER () AS pid, c, t FROM x")
    assert "ROW_NUMBER() OVER (ORDER BY C NULLS LAST, T NULLS LAST)" in out


def test_filter_clause_is_kept():
    assert "COUNT(*) FILTER(WHERE X > 1)" in spark("SELECT count(*) FILTER (WHERE x > 1) FROM t")


def test_lateral_values_become_a_lateral_view():
    sql = "SELECT e.ts FROM a JOIN c ON c.x = a.x, LATERAL (VALUES (a.r, 1), (a.s, 0)) AS e(ts, d)"
    out = spark(sql)
    assert "LATERAL VIEW INLINE(ARRAY(NAMED_STRUCT('TS', A.R, 'D', 1)" in out
    assert out.index("JOIN C") < out.index("LATERAL VIEW")


def test_temp_tables_and_macro_definitions():
    assert dialect.is_macro_definition("CREATE OR REPLACE TEMP MACRO f(x) AS (x + 1)")
    assert not dialect.is_macro_definition("SELECT 1")
    assert dialect.temp_table("CREATE TEMP TABLE _x AS SELECT hash(a) AS h FROM t") == "_x"
    assert dialect.temp_table("SELECT 1") is None
    assert spark("CREATE TEMP TABLE _x AS SELECT 1 AS a").startswith("CACHE TABLE _X AS")


ASOF = """
    SELECT p.k, p.t, x.v FROM p ASOF LEFT JOIN x ON x.k = p.k AND p.t > x.ts ORDER BY p.k, p.t
"""


@pytest.mark.parametrize(
    "sql",
    [ASOF, ASOF.replace("p.t > x.ts", "p.t >= x.ts"), ASOF.replace("p.t > x.ts", "x.ts < p.t")],
)
def test_asof_rewrite_gives_the_asof_rows_on_duckdb(sql):
    con = duckdb.connect()
    # ties on ts carry the same value (as the running totals of features/peers.py do)
    con.execute(
        "CREATE TABLE x AS SELECT * FROM (VALUES (1, 10, 'a'), (1, 20, 'b'), (1, 20, 'b'), "
        "(1, 30, 'c'), (2, 5, 'd')) v(k, ts, v)"
    )
    con.execute(
        "CREATE TABLE p AS SELECT * FROM (VALUES (1, 5), (1, 10), (1, 15), (1, 20), (1, 25), "
        "(1, 30), (1, 99), (2, 5), (2, 6), (3, 1)) v(k, t)"
    )
    portable = dialect.spark_tree(sql).sql(dialect="duckdb")
    assert "ASOF LEFT JOIN" not in portable.upper() and "LEAD(" in portable.upper()
    assert con.execute(portable).fetchall() == con.execute(sql).fetchall()


def test_asof_without_an_inequality_is_refused():
    with pytest.raises(ValueError, match="one inequality"):
        dialect.to_spark("SELECT * FROM p ASOF LEFT JOIN x ON x.k = p.k")


def test_materialized_ctes_become_steps_read_by_the_query():
    sql = """
        CREATE TEMP TABLE _f AS
        WITH pts AS MATERIALIZED (SELECT row_number() OVER () AS pid, c FROM x),
        win AS MATERIALIZED (SELECT pid, hash(c) AS h FROM pts),
        z AS (SELECT 1 AS one)
        SELECT * FROM pts p LEFT JOIN win USING (pid), z
    """
    steps, query = dialect.staged(sql, "_f_")
    assert steps == [
        ("_f_pts", "SELECT ROW_NUMBER() OVER (ORDER BY c NULLS LAST) AS pid, c FROM x"),
        ("_f_win", "SELECT pid, XXHASH64(c) AS h FROM _f_pts AS pts"),
    ]
    assert query == (
        "WITH z AS (SELECT 1 AS one) SELECT * FROM _f_pts AS p LEFT JOIN _f_win AS win "
        "USING (pid), z"
    )
    assert dialect.staged("SELECT 1", "_") == ([], "SELECT 1")
