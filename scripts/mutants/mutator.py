"""Source-level mutants of one answer cell: the concurrency mistakes students make, plus generic ones.

No existing library fits: mutmut (3.x) and cosmic-ray mutate module files of a project and
run its test suite per mutant, and their operators are generic (numbers, comparisons,
booleans); none removes or narrows a ``with lock:``, hoists a read out of it, swaps a
loop's iterable, or renames ``start`` to ``run``. So this is a small ``ast`` mutator:
every operator yields ``(description, tree)``, and ``mutants()`` keeps the ones that
compile, differ from the answer, and differ from each other (by normalised source).
"""
from __future__ import annotations

import ast
import copy
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: method renames a student makes by mistake (each direction that compiles is one mutant)
RENAMES = {
    "start": ["run"], "sendall": ["send"], "put": ["put_nowait"], "get": ["get_nowait"],
    "terminate": ["kill"], "kill": ["terminate"], "join": ["close"], "recvfrom": ["recv"],
}
#: calls whose arguments a student leaves out (or, for recv, replaces with 1024)
DROPPABLE = {"join", "get", "recv", "recvfrom", "Queue", "JoinableQueue", "Pool"}
#: calls that read shared state (what ``hoist-read`` moves before a ``with``)
READS = {"get", "query", "recv", "qsize", "empty"}
#: string constants a student gets wrong (struct formats)
STRINGS = {"!I": ["<I", "I", "!H"], ">I": ["<I", "I"], "I": ["<I"]}
#: calls whose single argument can stand without them (``sorted((a, b))`` -> ``(a, b)``)
UNWRAP = {"sorted", "list", "tuple", "bytes", "dict", "set", "len", "str"}
COMPARE_FLIPS = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
                 ast.GtE: ast.Gt, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
BODY_FIELDS = ("body", "orelse", "finalbody")


@dataclass(frozen=True)
class Mutant:
    operator: str          # the operator's name ("drop-with", "swap-statements", ...)
    description: str       # what changed, in the code's terms
    source: str            # the whole mutated answer cell


Operator = Callable[[ast.Module], Iterator[tuple[str, ast.Module]]]


def mutants(source: str, operators: dict[str, Operator] | None = None) -> list[Mutant]:
    """Every distinct mutant of ``source`` that compiles (the answer itself excluded)."""
    tree = ast.parse(source)
    seen, base = {_normal(tree)}, ast.unparse(tree)
    found = []
    for name, operator in (operators or OPERATORS).items():
        for description, mutated in operator(tree):
            ast.fix_missing_locations(mutated)
            try:
                text = ast.unparse(mutated)
                compile(text, "<mutant>", "exec")
                key = _normal(ast.parse(text))
            except (SyntaxError, ValueError, TypeError, RecursionError):
                continue
            if key in seen:
                continue
            seen.add(key)
            found.append(Mutant(name, f"{description} (line {_first_change(base, text)})", text + "\n"))
    return found


def _first_change(a: str, b: str) -> int:
    """The first line (1-based, of the normalised answer) where ``b`` differs from ``a``."""
    for i, (x, y) in enumerate(itertools.zip_longest(a.splitlines(), b.splitlines()), 1):
        if x != y:
            return i
    return 1


def _normal(tree: ast.AST) -> str:
    return ast.dump(ast.parse(ast.unparse(tree)))


# ------------------------------------------------------------------ addressing nodes

def _nodes(tree: ast.AST) -> list[ast.AST]:
    return list(ast.walk(tree))


def _each(tree: ast.Module, wanted: Callable[[ast.AST], bool]) -> Iterator[tuple[ast.Module, ast.AST]]:
    """(a fresh copy of the tree, the copy's node) for every node ``wanted`` accepts."""
    for i, node in enumerate(_nodes(tree)):
        if wanted(node):
            copied = copy.deepcopy(tree)
            yield copied, _nodes(copied)[i]


def _bodies(tree: ast.AST) -> list[tuple[int, str]]:
    """(node index, field) of every statement list in the tree."""
    found = []
    for i, node in enumerate(_nodes(tree)):
        for field in BODY_FIELDS:
            value = getattr(node, field, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                found.append((i, field))
    return found


def _statement_sites(tree: ast.Module) -> Iterator[tuple[ast.Module, list[ast.stmt], int]]:
    """(a fresh copy, a statement list in it, an index) for every statement."""
    for i, field in _bodies(tree):
        for j in range(len(getattr(_nodes(tree)[i], field))):
            copied = copy.deepcopy(tree)
            yield copied, getattr(_nodes(copied)[i], field), j


def _fill(body: list[ast.stmt]) -> None:
    if not body:
        body.append(ast.Pass())


def _text(node: ast.AST, limit: int = 60) -> str:
    text = ast.unparse(node).split("\n")[0]
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _method_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _is_definition(stmt: ast.stmt) -> bool:
    return isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))


# ------------------------------------------------------------------ with-statements (locks)

def drop_with(tree):
    """``with lock: body`` -> ``body``; ``with a, b:`` -> ``with a:`` / ``with b:``."""
    for copied, body, j in _statement_sites(tree):
        stmt = body[j]
        if not isinstance(stmt, ast.With):
            continue
        head = ", ".join(_text(item) for item in stmt.items)
        body[j:j + 1] = stmt.body
        yield f"drop `with {head}:`", copied
    for copied, node in _each(tree, lambda n: isinstance(n, ast.With) and len(n.items) > 1):
        items = node.items
        for k in range(len(items)):
            again = copy.deepcopy(copied)
            target = _nodes(again)[_nodes(copied).index(node)]
            dropped = target.items.pop(k)
            yield f"drop `{_text(dropped)}` from a `with`", again


def narrow_with(tree):
    """Move the first or last statement of a ``with`` body out of it (before or after)."""
    for copied, body, j in _statement_sites(tree):
        stmt = body[j]
        if not isinstance(stmt, ast.With) or len(stmt.body) < 2:
            continue
        first = copy.deepcopy(copied)
        fbody = _same_list(first, copied, body)
        fwith = fbody[j]
        moved = fwith.body.pop(0)
        fbody.insert(j, moved)
        yield f"move `{_text(moved)}` before its `with`", first
        last = copy.deepcopy(copied)
        lbody = _same_list(last, copied, body)
        lwith = lbody[j]
        moved = lwith.body.pop()
        lbody.insert(j + 1, moved)
        yield f"move `{_text(moved)}` after its `with`", last


def widen_with(tree):
    """Move the statement just before a ``with`` into it (first), or the one just after it (last)."""
    for copied, body, j in _statement_sites(tree):
        stmt = body[j]
        if not isinstance(stmt, ast.With):
            continue
        if j > 0 and not _is_definition(body[j - 1]):
            before = copy.deepcopy(copied)
            bbody = _same_list(before, copied, body)
            moved = bbody.pop(j - 1)
            bbody[j - 1].body.insert(0, moved)
            yield f"move `{_text(moved)}` into the `with` after it", before
        if j + 1 < len(body) and not _is_definition(body[j + 1]):
            after = copy.deepcopy(copied)
            abody = _same_list(after, copied, body)
            moved = abody.pop(j + 1)
            abody[j].body.append(moved)
            yield f"move `{_text(moved)}` into the `with` before it", after


def _same_list(new: ast.Module, old: ast.Module, body: list) -> list:
    """The statement list of ``new`` at the place ``body`` has in ``old`` (trees are copies)."""
    for a, b in zip(_nodes(old), _nodes(new)):
        for field in BODY_FIELDS:
            if getattr(a, field, None) is body:
                return getattr(b, field)
    raise LookupError("statement list not found")


def hoist_read(tree):
    """Read a value before the ``with`` and use it inside: ``v = account.get()`` / ``with lock: account.set(v - 1)``."""
    for copied, body, j in _statement_sites(tree):
        stmt = body[j]
        if not isinstance(stmt, ast.With):
            continue
        inner = [n for s in stmt.body for n in ast.walk(s) if _method_name(n) in READS]
        for k in range(len(inner)):
            again = copy.deepcopy(copied)
            abody = _same_list(again, copied, body)
            awith = abody[j]
            calls = [n for s in awith.body for n in ast.walk(s) if _method_name(n) in READS]
            call = calls[k]
            name = "_read"
            _replace(awith, call, ast.Name(name, ast.Load()))
            abody.insert(j, ast.Assign([ast.Name(name, ast.Store())], call, lineno=0))
            yield f"read `{_text(call)}` before the `with`", again


def _replace(root: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for node in ast.walk(root):
        for field, value in ast.iter_fields(node):
            if value is old:
                setattr(node, field, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        return


def with_to_acquire(tree):
    """``with lock: body`` -> ``lock.acquire()``, body, ``lock.release()`` (no ``finally``)."""
    for copied, body, j in _statement_sites(tree):
        stmt = body[j]
        if not isinstance(stmt, ast.With) or len(stmt.items) != 1 or stmt.items[0].optional_vars:
            continue
        lock = stmt.items[0].context_expr
        acquire = ast.Expr(ast.Call(ast.Attribute(copy.deepcopy(lock), "acquire", ast.Load()), [], []))
        release = ast.Expr(ast.Call(ast.Attribute(copy.deepcopy(lock), "release", ast.Load()), [], []))
        body[j:j + 1] = [acquire, *stmt.body, release]
        yield f"`with {_text(lock)}:` -> acquire()/release() without `finally`", copied


def with_timeout(tree):
    """``with lock: body`` -> ``lock.acquire(timeout=0.1)``, ``try: body finally: lock.release()``."""
    for copied, body, j in _statement_sites(tree):
        stmt = body[j]
        if not isinstance(stmt, ast.With) or len(stmt.items) != 1 or stmt.items[0].optional_vars:
            continue
        lock = stmt.items[0].context_expr
        acquire = ast.Expr(ast.Call(ast.Attribute(copy.deepcopy(lock), "acquire", ast.Load()), [],
                                    [ast.keyword("timeout", ast.Constant(0.1))]))
        release = ast.Expr(ast.Call(ast.Attribute(copy.deepcopy(lock), "release", ast.Load()), [], []))
        body[j:j + 1] = [acquire, ast.Try(stmt.body, [], [], [release])]
        yield f"`with {_text(lock)}:` -> acquire(timeout=0.1) then try/finally release", copied


def private_lock(tree):
    """``with lock:`` on a lock made inside the function: ``lock = multiprocessing.Lock()`` first."""
    for copied, node in _each(tree, lambda n: isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        names = sorted({item.context_expr.id for w in ast.walk(node) if isinstance(w, ast.With)
                        for item in w.items if isinstance(item.context_expr, ast.Name)})
        for name in names:
            again = copy.deepcopy(copied)
            target = _nodes(again)[_nodes(copied).index(node)]
            target.body[0:0] = ast.parse(f"import multiprocessing\n{name} = multiprocessing.Lock()").body
            yield f"`{name}` replaced by a new `multiprocessing.Lock()` made in the call", again


# ------------------------------------------------------------------ statements

def remove_statement(tree):
    for copied, body, j in _statement_sites(tree):
        stmt = body[j]
        if _is_definition(stmt):
            continue
        del body[j]
        _fill(body)
        yield f"remove `{_text(stmt)}`", copied


def swap_statements(tree):
    for copied, body, j in _statement_sites(tree):
        if j + 1 >= len(body) or _is_definition(body[j]) or _is_definition(body[j + 1]):
            continue
        a, b = body[j], body[j + 1]
        body[j], body[j + 1] = b, a
        yield f"swap `{_text(a, 40)}` and `{_text(b, 40)}`", copied


def swap_loop_iterables(tree):
    """``for _ in consumers:`` -> ``for _ in producers:`` (another list the function loops over)."""
    loops = [n for n in _nodes(tree) if isinstance(n, ast.For) and isinstance(n.iter, ast.Name)]
    names = sorted({n.iter.id for n in loops})
    for copied, node in _each(tree, lambda n: isinstance(n, ast.For) and isinstance(n.iter, ast.Name)):
        for other in names:
            if other != node.iter.id:
                again = copy.deepcopy(copied)
                target = _nodes(again)[_nodes(copied).index(node)]
                old, target.iter = target.iter.id, ast.Name(other, ast.Load())
                yield f"`for ... in {old}` -> `for ... in {other}`", again


def loop_bounds(tree):
    """``range(n)`` -> ``range(n - 1)`` / ``range(n + 1)``; ``for x in xs`` -> ``for x in xs[1:]``."""
    for copied, node in _each(tree, lambda n: isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                              and n.func.id == "range" and len(n.args) == 1):
        for op, sign in ((ast.Sub(), "-"), (ast.Add(), "+")):
            again = copy.deepcopy(copied)
            target = _nodes(again)[_nodes(copied).index(node)]
            target.args[0] = ast.BinOp(target.args[0], op, ast.Constant(1))
            yield f"`{_text(node)}` -> bound {sign} 1", again
    for copied, node in _each(tree, lambda n: isinstance(n, (ast.For, ast.comprehension))
                              and isinstance(n.iter, ast.Name)):
        old = node.iter.id
        node.iter = ast.Subscript(ast.Name(old, ast.Load()), ast.Slice(ast.Constant(1), None), ast.Load())
        yield f"`for ... in {old}` -> `{old}[1:]`", copied


def loop_once(tree):
    """A loop that should repeat runs its body once: ``while True: body`` -> ``body``; ``for p in ps: body`` ->
    ``p = next(iter(ps))``, ``body`` (one sentinel for several consumers, only the first process joined)."""
    for copied, body, j in _statement_sites(tree):
        stmt = body[j]
        if isinstance(stmt, ast.While) and not stmt.orelse:
            body[j:j + 1] = [s for s in stmt.body if not isinstance(s, (ast.Break, ast.Continue))]
            _fill(body)
            yield f"`{_text(stmt, 30)}` loop runs its body once", copied
        elif isinstance(stmt, ast.For) and not stmt.orelse and not any(
                isinstance(n, (ast.Break, ast.Continue)) for s in stmt.body for n in ast.walk(s)):
            first = [] if isinstance(stmt.target, ast.Name) and stmt.target.id == "_" else [
                ast.Assign([stmt.target], ast.parse(f"next(iter({ast.unparse(stmt.iter)}))", mode="eval").body,
                           lineno=0)]
            body[j:j + 1] = first + stmt.body
            yield f"`{_text(stmt, 40)}` runs its body once", copied


# ------------------------------------------------------------------ expressions

def flip_comparisons(tree):
    for copied, node in _each(tree, lambda n: isinstance(n, ast.Compare) and type(n.ops[0]) in COMPARE_FLIPS):
        old = _text(node)
        node.ops[0] = COMPARE_FLIPS[type(node.ops[0])]()
        yield f"`{old}` -> `{_text(node)}`", copied


def flip_conditions(tree):
    """``if c:`` / ``while c:`` -> ``not c``; ``not x`` -> ``x``; ``True`` <-> ``False``."""
    for copied, node in _each(tree, lambda n: isinstance(n, (ast.If, ast.While))
                              and not (isinstance(n.test, ast.Constant))):
        old = _text(node.test)
        node.test = ast.UnaryOp(ast.Not(), node.test)
        yield f"condition `{old}` negated", copied
    for copied, node in _each(tree, lambda n: isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not)):
        old = _text(node)
        _replace(copied, node, node.operand)
        yield f"`{old}` -> `{_text(node.operand)}`", copied
    for copied, node in _each(tree, lambda n: isinstance(n, ast.Constant) and isinstance(n.value, bool)):
        node.value = not node.value
        yield f"`{not node.value}` -> `{node.value}`", copied


def change_numbers(tree):
    """A count or a timeout: ``n`` -> ``n + 1``, ``n - 1`` (ints); ``t`` -> ``t / 10``, ``t * 10`` (floats)."""
    for copied, node in _each(tree, lambda n: isinstance(n, ast.Constant) and type(n.value) in (int, float)):
        old = node.value
        values = [old + 1, old - 1] if isinstance(old, int) else [old / 10, old * 10]
        if old == 0:
            values.append(1)
        for value in values:
            again = copy.deepcopy(copied)
            target = _nodes(again)[_nodes(copied).index(node)]
            target.value = value
            yield f"`{old!r}` -> `{value!r}`", again


def change_arithmetic(tree):
    """``a - b`` <-> ``a + b``; ``n * n`` -> ``n + n``."""
    flips = {ast.Sub: ast.Add, ast.Add: ast.Sub, ast.Mult: ast.Add}
    for copied, node in _each(tree, lambda n: isinstance(n, (ast.BinOp, ast.AugAssign)) and type(n.op) in flips):
        old = _text(node)
        node.op = flips[type(node.op)]()
        yield f"`{old}` -> `{_text(node)}`", copied


def change_strings(tree):
    for copied, node in _each(tree, lambda n: isinstance(n, ast.Constant) and n.value in STRINGS):
        for value in STRINGS[node.value]:
            again = copy.deepcopy(copied)
            target = _nodes(again)[_nodes(copied).index(node)]
            target.value = value
            yield f"`{node.value!r}` -> `{value!r}`", again


def rename_methods(tree):
    for copied, node in _each(tree, lambda n: _method_name(n) in RENAMES):
        for new in RENAMES[node.func.attr]:
            again = copy.deepcopy(copied)
            target = _nodes(again)[_nodes(copied).index(node)]
            old, target.func.attr = target.func.attr, new
            yield f"`.{old}(...)` -> `.{new}(...)`", again


def change_keywords(tree):
    """Drop each keyword argument; ``block=False`` -> ``True``; add ``daemon=True`` to a ``Process(...)``."""
    for copied, node in _each(tree, lambda n: isinstance(n, ast.Call) and n.keywords):
        for k in range(len(node.keywords)):
            again = copy.deepcopy(copied)
            target = _nodes(again)[_nodes(copied).index(node)]
            dropped = target.keywords.pop(k)
            yield f"drop `{dropped.arg}={_text(dropped.value)}` from `{_text(node.func)}(...)`", again
    for copied, node in _each(tree, lambda n: isinstance(n, ast.Call) and _callee(n) == "Process"
                              and not any(k.arg == "daemon" for k in n.keywords)):
        node.keywords.append(ast.keyword("daemon", ast.Constant(True)))
        yield "add `daemon=True` to `Process(...)`", copied
    for copied, node in _each(tree, lambda n: isinstance(n, ast.Call) and _method_name(n) in ("get", "put", "join")
                              and not n.keywords and (len(n.args) == (1 if _method_name(n) == "put" else 0))):
        old = _text(node)
        node.keywords.append(ast.keyword("timeout", ast.Constant(0.1)))
        yield f"add `timeout=0.1` to `{old}`", copied


def drop_arguments(tree):
    """``p.join(timeout)`` -> ``p.join()``, ``Queue(maxsize)`` -> ``Queue()``, ``recv(n)`` -> ``recv(1024)``."""
    for copied, node in _each(tree, lambda n: _method_name(n) in DROPPABLE and n.args):
        old = _text(node)
        node.args = [ast.Constant(1024)] if node.func.attr.startswith("recv") else []
        yield f"`{old}` -> `{_text(node)}`", copied


def unwrap_calls(tree):
    for copied, node in _each(tree, lambda n: isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                              and n.func.id in UNWRAP and len(n.args) == 1 and not n.keywords):
        old = _text(node)
        _replace(copied, node, node.args[0])
        yield f"`{old}` -> `{_text(node.args[0])}`", copied


def break_continue(tree):
    for copied, node in _each(tree, lambda n: isinstance(n, (ast.Break, ast.Continue))):
        new = ast.Continue() if isinstance(node, ast.Break) else ast.Break()
        _replace(copied, node, new)
        yield f"`{type(node).__name__.lower()}` -> `{type(new).__name__.lower()}`", copied


def _callee(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


OPERATORS: dict[str, Operator] = {
    "drop-with": drop_with, "narrow-with": narrow_with, "widen-with": widen_with, "hoist-read": hoist_read,
    "with-to-acquire": with_to_acquire,
    "with-timeout": with_timeout, "private-lock": private_lock,
    "remove-statement": remove_statement, "swap-statements": swap_statements,
    "swap-loop-iterable": swap_loop_iterables, "loop-bound": loop_bounds, "loop-once": loop_once,
    "flip-comparison": flip_comparisons, "flip-condition": flip_conditions, "number": change_numbers,
    "arithmetic": change_arithmetic, "string": change_strings, "rename-method": rename_methods,
    "keyword": change_keywords, "argument": drop_arguments, "unwrap-call": unwrap_calls,
    "break-continue": break_continue,
}


def unified_diff(reference: str, mutant: str) -> str:
    """The mutant against the reference answer (both normalised by ``ast.unparse``, so only the change shows)."""
    import difflib

    a = ast.unparse(ast.parse(reference)).splitlines()
    b = ast.unparse(ast.parse(mutant)).splitlines()
    return "\n".join(itertools.islice(difflib.unified_diff(a, b, "reference", "mutant", n=1, lineterm=""), 2, None))
