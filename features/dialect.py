"""The feature SQL on Spark: DuckDB SQL text rewritten for Spark SQL, one definition.

Every feature, label and fact is written once, as DuckDB SQL over the `features.state`
macros. `to_spark` parses that text with SQLGlot, expands the macros into the query (SQLGlot
parses `CREATE MACRO` but never expands a call), rewrites what SQLGlot does not translate, and
emits Spark SQL. DuckDB keeps running its own text, untouched, at its own speed.

What needs a rewrite, and why each keeps DuckDB's values:
- `hash(x)` (a 64-bit key, compared only with itself) -> `xxhash64(x)`; UBIGINT bit masks
  -> BIGINT: shifts, `bit_or` and `bit_count` give the same bits on signed 64-bit.
- `epoch(ts)` (seconds, fractional) -> `unix_micros(ts) / 1e6`; `to_days(n)` -> a day interval.
- `arg_max(x, ord)` skips rows where x is NULL (DuckDB) -> `max_by` over those rows;
  `arg_max(x, ord, n)` (a list, best first) -> sorted `collect_list`; `list_avg` -> `aggregate`.
- Decimal literals (DuckDB divides DECIMALs as DOUBLE, Spark keeps 6 digits) -> DOUBLE.
- `ASOF LEFT JOIN r ON keys AND l.t > r.ts` (no Spark equivalent) -> a left join on the keys
  and the interval [r.ts, the next r.ts of the same keys): the same one row per left row.
  Rewritten here rather than in features/peers.py, so DuckDB keeps its ASOF join (its plan,
  speed and values do not change at all).
- `LATERAL (VALUES ...)` -> `LATERAL VIEW inline(array(named_struct(...)))`; `ANTI JOIN` ->
  `LEFT ANTI JOIN`; `row_number() OVER ()` ordered by the SELECT's columns (Spark needs an
  order; the ids stay unique); 'infinity' -> the last day Spark holds.
- `CREATE TEMP TABLE x AS q` -> `CACHE TABLE x AS q`; `MATERIALIZED` CTEs are inlined by
  `to_spark`, or computed once each as views first (`staged`, what pipelines/spark_engine.py
  runs for a temp table).
Date arithmetic is written portably in the families (`date_diff('day', a, b)`, not
`date - date`), since rewriting a minus sign would need the column types.
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp

from advocacy.features.state import SCALAR_MACROS

LAST_TIMESTAMP = "TIMESTAMP_NTZ '9999-12-31 23:59:59'"  # stands for DuckDB's 'infinity'


def to_spark(sql: str) -> str:
    """Spark SQL for one DuckDB statement of the feature builders."""
    return spark_tree(sql).sql(dialect="spark")


def spark_tree(sql: str) -> exp.Expression:
    """The statement's tree with macros expanded and every rewrite applied (`to_spark`)."""
    tree = _temp_table_to_cache(sqlglot.parse_one(sql, read="duckdb"))
    tree = expand_macros(tree)
    tree = tree.transform(_rewrite_node)
    for select in list(tree.find_all(exp.Select)):
        _rewrite_joins(select)
    return tree


def temp_table(sql: str) -> str | None:
    """The name of a `CREATE TEMP TABLE name AS query` statement's table, else None."""
    tree = _temp_table_to_cache(sqlglot.parse_one(sql, read="duckdb"))
    return tree.this.name if isinstance(tree, exp.Cache) else None


def staged(sql: str, prefix: str) -> tuple[list[tuple[str, str]], str]:
    """The query's (or temp table's query's) `MATERIALIZED` CTEs as steps, then the query.

    Returns ([(view name, Spark query), ...] in order, the Spark query). Spark inlines CTEs,
    so a CTE read twice is computed twice; computed once as its own view (named
    `prefix` + its name) it is what DuckDB's MATERIALIZED asks for. Other CTEs stay inline.
    """
    tree = _temp_table_to_cache(sqlglot.parse_one(sql, read="duckdb"))
    if isinstance(tree, exp.Cache):  # a temp table: the steps of its query
        tree = tree.expression
    with_ = tree.args.get("with_") or tree.args.get("with")
    steps: list[tuple[str, exp.Expression]] = []
    for cte in list(with_.expressions if with_ else []):
        if not cte.args.get("materialized"):
            continue
        body = _rename_tables(cte.this.copy(), {old: new for old, new in _names(steps, prefix)})
        steps.append((cte.alias, body))
        cte.pop()
    if with_ is not None and not with_.expressions:
        with_.pop()
    main = _rename_tables(tree, dict(_names(steps, prefix)))
    views = [(f"{prefix}{name}", _spark_sql(body)) for name, body in steps]
    return views, _spark_sql(main)


def _names(steps: list[tuple[str, exp.Expression]], prefix: str) -> list[tuple[str, str]]:
    return [(name, f"{prefix}{name}") for name, _ in steps]


def _rename_tables(tree: exp.Expression, names: dict[str, str]) -> exp.Expression:
    """References to the CTEs in `names` read their views (keeping the CTE name as alias)."""
    for table in list(tree.find_all(exp.Table)):
        if table.name in names and not table.args.get("db"):
            alias = table.alias or table.name
            table.set("this", exp.to_identifier(names[table.name]))
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return tree


def _spark_sql(tree: exp.Expression) -> str:
    return spark_tree(tree.sql(dialect="duckdb")).sql(dialect="spark")


def _temp_table_to_cache(tree: exp.Expression) -> exp.Expression:
    """`CREATE TEMP TABLE x AS q` -> `CACHE TABLE x AS q`: a temp view, computed once."""
    if not isinstance(tree, exp.Create) or str(tree.args.get("kind", "")).upper() != "TABLE":
        return tree
    props = tree.args.get("properties")
    temporary = props and any(isinstance(p, exp.TemporaryProperty) for p in props.expressions)
    if not temporary or tree.expression is None:
        return tree
    return exp.Cache(this=tree.this, expression=tree.expression)


def is_macro_definition(sql: str) -> bool:
    """True for `CREATE ... MACRO` statements (Spark needs none: `to_spark` expands them)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    return isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "MACRO"


# --- macros -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _macros() -> dict[str, tuple[tuple[str, ...], exp.Expression]]:
    """name -> (parameter names, parsed body) of `features.state.SCALAR_MACROS`."""
    parsed = {}
    for name, (params, body) in SCALAR_MACROS.items():
        names = tuple(p.strip() for p in params.split(","))
        parsed[name] = (names, sqlglot.parse_one(body, read="duckdb"))
    return parsed


def expand_macros(tree: exp.Expression) -> exp.Expression:
    """Every macro call replaced by its body with the arguments substituted (recursively)."""
    return tree.transform(_expand_call)


def _expand_call(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, exp.Anonymous):
        return node
    macro = _macros().get(str(node.name).lower())
    if macro is None:
        return node
    params, body = macro
    args = node.expressions
    if len(args) != len(params):
        raise ValueError(f"macro {node.name} takes {len(params)} arguments, got {len(args)}")
    values = dict(zip(params, args, strict=True))

    def substitute(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column) and not n.table and n.name in values:
            return _wrap(values[n.name].copy())
        return n

    expanded = body.copy().transform(substitute)
    return exp.paren(expand_macros(expanded), copy=False)


# --- expressions ------------------------------------------------------------------------


def _wrap(value: exp.Expression) -> exp.Expression:
    """`value` in parentheses unless it is one term (so a substitution keeps its precedence)."""
    if isinstance(value, exp.Column | exp.Literal | exp.Func | exp.Paren | exp.Null):
        return value
    return exp.paren(value, copy=False)


def _spark(template: str, **parts: exp.Expression) -> exp.Expression:
    """A Spark expression from `template`, its `__name` columns replaced by `parts`."""
    tree = sqlglot.parse_one(template, read="spark")

    def fill(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column) and not n.table and n.name.startswith("__"):
            return _wrap(parts[n.name[2:]].copy())
        return n

    return tree.transform(fill)


def _struct(value: exp.Expression) -> exp.Expression:
    """A DuckDB row value `(a, b)` as a Spark struct (ordered field by field)."""
    if isinstance(value, exp.Tuple):
        return exp.func("struct", *value.expressions)
    return value


def _rewrite_node(node: exp.Expression) -> exp.Expression:
    rewrite = _REWRITES.get(type(node))
    return rewrite(node) if rewrite else node


def _anonymous(node: exp.Anonymous) -> exp.Expression:
    name = str(node.name).lower()
    args = node.expressions
    if name == "hash":
        return exp.func("xxhash64", *args)
    if name == "list_avg":
        return _spark("aggregate(__l, CAST(0 AS DOUBLE), (s, x) -> s + x) / size(__l)", l=args[0])
    return node


def _arg_max(node: exp.ArgMax) -> exp.Expression:
    value, order, count = node.this, _struct(node.expression), node.args.get("count")
    if count is None:
        return _spark("max_by(__v, IF(__v IS NULL, NULL, __o))", v=value, o=order)
    best_first = (
        "transform(slice(sort_array(collect_list(IF(__v IS NULL OR __o IS NULL, NULL, "
        "named_struct('o', __o, 'v', __v))), false), 1, __n), e -> e.v)"
    )
    return _spark(best_first, v=value, o=order, n=count)


def _cast(node: exp.Cast) -> exp.Expression:
    to = node.to
    if to.is_type(exp.DataType.Type.UBIGINT):
        node.set("to", exp.DataType.build("BIGINT"))
    value = node.this
    if isinstance(value, exp.Literal) and value.is_string and value.name.lower() == "infinity":
        return sqlglot.parse_one(LAST_TIMESTAMP, read="spark")
    return node


def _literal(node: exp.Literal) -> exp.Expression:
    """DuckDB reads 1.2 as DECIMAL and divides DECIMALs as DOUBLE; Spark would keep 6 digits."""
    if node.is_number and any(c in node.name.lower() for c in ".e"):
        return exp.cast(node.copy(), "DOUBLE")
    return node


def _shift(node: exp.BitwiseLeftShift) -> exp.Expression:
    """Spark shifts a BIGINT by an INT amount."""
    node.set("expression", exp.cast(node.expression, "INT"))
    return node


def _window(node: exp.Window) -> exp.Expression:
    """`row_number() OVER ()`: Spark needs an order; the SELECT's plain columns give one."""
    if not isinstance(node.this, exp.RowNumber) or node.args.get("order"):
        return node
    if node.args.get("partition_by"):
        return node
    select = node.find_ancestor(exp.Select)
    columns = [
        e.unalias().copy()
        for e in (select.expressions if select else [])
        if isinstance(e.unalias(), exp.Column)
    ]
    if not columns:
        raise ValueError("row_number() OVER () needs plain columns in its SELECT to order by")
    node.set("order", exp.Order(expressions=[exp.Ordered(this=c) for c in columns]))
    return node


def _cte(node: exp.CTE) -> exp.Expression:
    node.set("materialized", None)
    return node


_REWRITES = {
    exp.Anonymous: _anonymous,
    exp.ArgMax: _arg_max,
    exp.Cast: _cast,
    exp.Literal: _literal,
    exp.BitwiseLeftShift: _shift,
    exp.Window: _window,
    exp.CTE: _cte,
    exp.TimeToUnix: lambda n: _spark("unix_micros(CAST(__t AS TIMESTAMP)) / 1e6", t=n.this),
    exp.ToDays: lambda n: exp.func("make_dt_interval", exp.cast(n.this, "INT")),
}


# --- joins ------------------------------------------------------------------------------


def _rewrite_joins(select: exp.Select) -> None:
    """ASOF, ANTI and LATERAL VALUES joins of one SELECT, in Spark's forms."""
    for join in list(select.args.get("joins") or []):
        if str(join.args.get("method") or "").upper() == "ASOF":
            _asof_to_interval(join)
        elif str(join.args.get("kind") or "").upper() == "ANTI" and not join.args.get("side"):
            join.set("side", "LEFT")
        elif isinstance(join.this, exp.Lateral) and isinstance(join.this.this, exp.Subquery):
            _lateral_values_to_view(select, join)


def _asof_to_interval(join: exp.Join) -> None:
    """`ASOF LEFT JOIN r ON keys AND l.t > r.ts` as a left join on the keys and the interval
    from r.ts to the next r.ts of the same keys: one match per left row, the last r row
    strictly before t (at or before t for >=); rows tied on ts match once (the last of them).
    """
    right = join.this
    alias = right.alias_or_name
    on = join.args["on"]
    conditions = list(on.flatten()) if isinstance(on, exp.And) else [on]
    keys = [c for c in conditions if isinstance(c, exp.EQ)]
    bounds = [c for c in conditions if isinstance(c, exp.GT | exp.GTE | exp.LT | exp.LTE)]
    if len(bounds) != 1 or len(keys) + 1 != len(conditions):
        raise ValueError("ASOF JOIN needs equalities and one inequality")
    probe, ts, inclusive = _asof_bound(bounds[0], alias)
    partition = [
        exp.column(side.name)
        for k in keys
        for side in (k.this, k.expression)
        if isinstance(side, exp.Column) and side.table == alias
    ]
    nxt = "_asof_next"
    lead = exp.Window(
        this=exp.func("lead", exp.column(ts)),
        partition_by=partition,
        order=exp.Order(expressions=[exp.Ordered(this=exp.column(ts))]),
    )
    ranked = exp.select(exp.Star(), exp.alias_(lead, nxt)).from_(exp.table_(right.name))
    after = exp.GTE if inclusive else exp.GT
    before = exp.LT if inclusive else exp.LTE
    within = exp.or_(
        exp.column(nxt, alias).is_(exp.null()),
        before(this=probe.copy(), expression=exp.column(nxt, alias)),
    )
    lower = after(this=probe.copy(), expression=exp.column(ts, alias))
    join.set("this", exp.alias_(ranked.subquery(), alias, table=True))
    join.set("on", exp.and_(*[k.copy() for k in keys], lower, exp.paren(within)))
    join.set("method", None)
    join.set("side", "LEFT")


def _asof_bound(bound: exp.Expression, alias: str) -> tuple[exp.Expression, str, bool]:
    """(left probe, right ts column, inclusive) of `probe > ts`, `ts < probe` (or with =)."""
    this, other = bound.this, bound.expression
    lower, upper = isinstance(bound, exp.GT | exp.GTE), isinstance(bound, exp.LT | exp.LTE)
    if lower and isinstance(other, exp.Column) and other.table == alias:
        return this, other.name, isinstance(bound, exp.GTE)
    if upper and isinstance(this, exp.Column) and this.table == alias:
        return other, this.name, isinstance(bound, exp.LTE)
    raise ValueError("ASOF JOIN must read the last right row before the left value")


def _lateral_values_to_view(select: exp.Select, join: exp.Join) -> None:
    """`, LATERAL (VALUES (a, b), ...) AS e(x, y)` -> `LATERAL VIEW inline(...) e AS x, y`."""
    lateral = join.this
    values = lateral.this.this
    if not isinstance(values, exp.Values):
        return
    alias = lateral.args["alias"]
    names = [c.name for c in alias.columns]
    rows = []
    for row in values.expressions:
        fields = []
        for name, value in zip(names, row.expressions, strict=True):
            fields += [exp.Literal.string(name), value.copy()]
        rows.append(exp.func("named_struct", *fields))
    view = exp.Lateral(
        this=exp.func("inline", exp.func("array", *rows)),
        view=True,
        alias=exp.TableAlias(this=alias.this.copy(), columns=[c.copy() for c in alias.columns]),
    )
    join.pop()
    select.append("laterals", view)
