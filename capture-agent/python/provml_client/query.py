"""Reading provenance back from Python: the query API's SPARQL endpoint and REST views (standard library
only; pandas DataFrames where pandas is installed and asked for).

    from provml_client import query

    api = query.connect("http://127.0.0.1:7070", token=os.environ.get("PROVML_QUERY_TOKEN"))
    runs = api.runs(hp={"batch_size": 32})                    # list of dicts, as /v1/runs answers
    best = api.best_model(runs[0]["trainingSet"], measure="val_loss")
    rows = api.sparql("SELECT ?name ?value WHERE { ?v provml:valueName ?name ; prov:value ?value } LIMIT 5")
    frame = api.runs(dataframe=True)                          # one row per run, hp.* and out.* columns

A SELECT answers a list of dicts whose values are Python values (int, float, bool, str, datetime);
an ASK answers a bool; a CONSTRUCT or DESCRIBE answers N-Triples text. The project's prefixes
(prov:, provml:, mls:, rdfs:, xsd:, …) are known to the endpoint's queries only when written; ``sparql``
adds those :data:`PREFIXES` a query uses but does not declare. An answer other than 2xx raises
:class:`QueryError` with the status and the API's error code.
"""

import datetime
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

__all__ = ["connect", "QueryClient", "QueryError", "PREFIXES", "typed_value"]

#: Prefixes added to a SPARQL query that uses one without declaring it.
PREFIXES = {
    "prov": "http://www.w3.org/ns/prov#",
    "provml": "https://w3id.org/provml/ns#",
    "mls": "http://www.w3.org/ns/mls#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

_XSD = PREFIXES["xsd"]
_INTEGERS = {_XSD + t for t in ("integer", "int", "long", "short", "byte", "nonNegativeInteger", "positiveInteger",
                                "negativeInteger", "nonPositiveInteger", "unsignedInt", "unsignedLong",
                                "unsignedShort", "unsignedByte")}
_FLOATS = {_XSD + t for t in ("double", "float", "decimal")}
_DATETIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


class QueryError(Exception):
    """An answer other than 2xx from the query API (or no answer at all: ``status`` 0).

    ``code`` is the API's error code (``invalid-parameter``, ``unauthorized``, ``not-found``,
    ``query-timeout``, …) where it sent one; ``retriable`` says whether asking again later may work.
    """

    def __init__(self, status: int, code: str, message: str, url: str):
        super().__init__("%s %s: %s" % (status or "no answer", code, message))
        self.status = status
        self.code = code
        self.message = message
        self.url = url
        self.retriable = status in (0, 429, 502, 503, 504)


def typed_value(term: Mapping[str, str]) -> Any:
    """A SPARQL JSON result term as a Python value: numbers, booleans and date-times by datatype (NaN
    and infinities as floats), IRIs and other literals as text, blank nodes as ``_:id``."""
    kind, value = term.get("type"), term.get("value", "")
    if kind == "bnode":
        return "_:" + value
    if kind != "literal" and kind != "typed-literal":
        return value
    datatype = term.get("datatype")
    try:
        if datatype in _INTEGERS:
            return int(value)
        if datatype in _FLOATS:
            return float(value)
    except ValueError:
        return value
    if datatype == _XSD + "boolean":
        return value in ("true", "1")
    if datatype == _XSD + "dateTime":
        return _datetime(value)
    return value


def _datetime(text: str) -> Union[datetime.datetime, str]:
    """An xsd:dateTime (any fraction, `Z` or an offset; Python 3.9's fromisoformat takes neither)."""
    m = _DATETIME.match(text)
    if m is None:
        return text
    fraction = (m.group(2) or "")[:6].ljust(6, "0")
    zone = m.group(3)
    iso = "%s.%s%s" % (m.group(1), fraction, "+00:00" if zone == "Z" else (zone or ""))
    try:
        return datetime.datetime.fromisoformat(iso)
    except ValueError:
        return text


def _with_prefixes(query: str) -> str:
    declared = {p.lower() for p in re.findall(r"PREFIX\s+([A-Za-z][\w.-]*)?\s*:", query, re.I)}
    used = [p for p in PREFIXES if p not in declared and re.search(r"(?<![\w<])%s:" % p, query)]
    return "".join("PREFIX %s: <%s>\n" % (p, PREFIXES[p]) for p in used) + query


def _frame(rows: List[Dict[str, Any]]):
    try:
        import pandas  # noqa: PLC0415 - optional: only when a DataFrame is asked for
    except ImportError as error:
        raise ImportError("dataframe=True needs pandas: pip install pandas") from error
    return pandas.DataFrame(rows)


def _flatten(row: Mapping[str, Any]) -> Dict[str, Any]:
    """A view row for a DataFrame: nested objects become dotted columns (``hyperparameters.lr``)."""
    out: Dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Mapping):
            for k, v in _flatten(value).items():
                out["%s.%s" % (key, k)] = v
        else:
            out[key] = value
    return out


class QueryClient:
    """The query API at ``url`` (``http://host:port``), with a bearer ``token`` where it needs one."""

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    # ---- transport --------------------------------------------------------------------------------

    def _request(self, path: str, params: Iterable = (), data: Optional[bytes] = None,
                 headers: Optional[Dict[str, str]] = None):
        query = urllib.parse.urlencode([(k, v) for k, v in params if v is not None])
        url = self.url + path + ("?" + query if query else "")
        h = {"accept": "application/json"}
        h.update(headers or {})
        if self.token:
            h["authorization"] = "Bearer " + self.token
        request = urllib.request.Request(url, data=data, headers=h, method="POST" if data is not None else "GET")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.headers.get("content-type", ""), response.read()
        except urllib.error.HTTPError as error:
            body = error.read().decode("utf-8", "replace")
            try:
                problem = json.loads(body)
                code, message = problem.get("error", "error"), problem.get("message", body)
            except ValueError:
                code, message = "error", body.strip() or error.reason
            raise QueryError(error.code, str(code), str(message), url) from None
        except (urllib.error.URLError, OSError) as error:
            raise QueryError(0, "unreachable", str(getattr(error, "reason", error)), url) from error

    def _view(self, path: str, params: Iterable = ()) -> Any:
        return json.loads(self._request(path, params)[1])

    @staticmethod
    def _rows(rows: List[Dict[str, Any]], dataframe: bool):
        return _frame([_flatten(r) for r in rows]) if dataframe else rows

    # ---- SPARQL -----------------------------------------------------------------------------------

    def sparql(self, query: str, dataframe: bool = False):
        """Runs a query (read-only): SELECT → list of dicts of Python values (a DataFrame with
        ``dataframe=True``), ASK → bool, CONSTRUCT/DESCRIBE → N-Triples text."""
        kind, body = self._request(
            "/sparql",
            data=_with_prefixes(query).encode("utf-8"),
            headers={"content-type": "application/sparql-query",
                     "accept": "application/sparql-results+json, application/n-triples"},
        )
        if "json" not in kind:
            return body.decode("utf-8")
        answer = json.loads(body)
        if "boolean" in answer:
            return bool(answer["boolean"])
        names = answer.get("head", {}).get("vars", [])
        rows = [{n: typed_value(b[n]) if n in b else None for n in names} for b in answer["results"]["bindings"]]
        return _frame(rows) if dataframe else rows

    # ---- REST views -------------------------------------------------------------------------------

    def executions(self, workflow: Optional[str] = None, status: Optional[str] = None,
                   limit: Optional[int] = None, dataframe: bool = False):
        """Top-level executions (curation, preparation, training runs), newest first."""
        body = self._view("/v1/executions", [("workflow", workflow), ("status", status), ("limit", limit)])
        return self._rows(body["executions"], dataframe)

    def runs(self, hp: Optional[Mapping[str, Any]] = None, prep: Optional[Mapping[str, Any]] = None,
             dataframe: bool = False):
        """Training runs with their preparation, hyperparameters and outputs, filtered by
        hyperparameters (``hp={"learning_rate": 0.01}``) and preparation parameters (``prep=…``)."""
        params = [("hp." + k, _text(v)) for k, v in (hp or {}).items()]
        params += [("prep." + k, _text(v)) for k, v in (prep or {}).items()]
        return self._rows(self._view("/v1/runs", params)["runs"], dataframe)

    def models(self, training_set: Optional[str] = None, dataframe: bool = False):
        """Models the trainings wrote (each a version of a file), with their evaluations."""
        return self._rows(self._view("/v1/models", [("trainingSet", training_set)])["models"], dataframe)

    def best_model(self, training_set: str, measure: str = "loss", direction: str = "min") -> Dict[str, Any]:
        """The best model of a training set by a measure, with its hyperparameters and evaluations."""
        return self._view("/v1/models/best", [("trainingSet", training_set), ("measure", measure),
                                              ("direction", direction)])

    def timing(self, execution: Optional[str] = None, training_set: Optional[str] = None,
               dataframe: bool = False):
        """Min, mean and max batch seconds per epoch of one training (or of every training on a set)."""
        body = self._view("/v1/timing", [("execution", execution), ("trainingSet", training_set)])
        return self._rows(body["epochs"], dataframe)

    def measures(self, trainings: Union[str, Iterable[str]], measure: Optional[str] = None,
                 dataframe: bool = False):
        """The measures the runs declare and their series. Returns ``{"measures": [...], "series":
        [...]}``; with ``dataframe=True``, one row per point (training, task, measure, step, value, time)."""
        names = [trainings] if isinstance(trainings, str) else list(trainings)
        body = self._view("/v1/measures", [("training", t) for t in names] + [("measure", measure)])
        if not dataframe:
            return body
        return _frame([dict(training=s["training"], task=s["task"], measure=s["measure"], **p)
                       for s in body["series"] for p in s["points"]])

    def lineage(self, entity: str, direction: str = "backward", depth: Optional[int] = None) -> Dict[str, Any]:
        """The lineage graph (nodes and edges) of an entity, back to raw data or forward to models."""
        if direction not in ("backward", "forward"):
            raise ValueError("direction is backward or forward")
        return self._view("/v1/lineage/" + direction, [("entity", entity), ("depth", depth)])

    def catalog(self, name: str, dataframe: bool = False, **params: Any):
        """One of the catalogue's parameterized queries (``q1`` … ``q6``): its rows, as text."""
        body = self._view("/v1/queries/" + urllib.parse.quote(name), [(k, _text(v)) for k, v in params.items()])
        return _frame(body["rows"]) if dataframe else body["rows"]


def _text(value: Any) -> str:
    """A parameter as the API reads it: booleans as true/false, numbers in Python's shortest form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def connect(url: str, token: Optional[str] = None, timeout: float = 60.0) -> QueryClient:
    """A client of the query API at ``url`` (``npm start`` serves it at http://127.0.0.1:7070)."""
    return QueryClient(url, token=token, timeout=timeout)
