"""PROV-O / ML Schema conformance checks with tools nobody in this project wrote (owlrl, pyshacl,
prov, rdflib), run by provOMls.test.ts on what the store holds. Each command prints one JSON object.

    prov_o_mls.py modules                                       which of the packages are importable
    prov_o_mls.py owlrl DATA.nq ONTOLOGY.ttl...                 OWL-RL closure: inconsistencies found
    prov_o_mls.py shacl DATA.nq SHAPES.ttl                      pyshacl over the union of the graphs
    prov_o_mls.py prov-rdf DATA.nq ONTOLOGY.ttl...              prov reads the PROV-O, rdf:types materialised
    prov_o_mls.py prov-docs EXPORT.json EXPORT.provn            prov reads PROV-JSON and PROV-N (strict)
"""

import importlib.util
import json
import sys

# prov 3.2.3 and later read PROV-N (prov.serializers.provn_parser)
PACKAGES = ["rdflib", "owlrl", "pyshacl", "prov.serializers.provn_parser"]

PROV = "http://www.w3.org/ns/prov#"
OWL_NOTHING = "http://www.w3.org/2002/07/owl#Nothing"
ERRNS = "http://www.daml.org/2002/03/agents/agent-ont#"


def module_found(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def union_graph(path):
    """The N-Quads file as one graph: the merge of its named graphs (a set of triples)."""
    import rdflib

    dataset = rdflib.Dataset()
    dataset.parse(path, format="nquads")
    graph = rdflib.Graph()
    for s, p, o, _ in dataset.quads((None, None, None, None)):
        graph.add((s, p, o))
    return graph


def with_ontologies(data, ontologies):
    import rdflib

    graph = rdflib.Graph()
    for t in data:
        graph.add(t)
    for path in ontologies:
        graph.parse(path, format="turtle")
    return graph


def owlrl_check(data_path, ontologies):
    """OWL 2 RL closure of the ontologies and the data: the inconsistencies owlrl finds (disjoint
    classes or properties, owl:Nothing members, ...) and the members of owl:Nothing."""
    import owlrl
    import rdflib

    data = union_graph(data_path)
    graph = with_ontologies(data, ontologies)
    asserted = len(graph)
    closure = owlrl.DeductiveClosure(owlrl.OWLRL_Semantics, axiomatic_triples=False, datatype_axioms=False)
    closure.expand(graph)
    # owlrl states each inconsistency as [ a err:ErrorMessage ; err:error "message" ] in the graph
    errors = sorted(str(m) for m in graph.objects(None, rdflib.URIRef(ERRNS + "error")))
    nothing = sorted(str(s) for s in graph.subjects(rdflib.RDF.type, rdflib.URIRef(OWL_NOTHING)))
    return {
        "dataTriples": len(data),
        "asserted": asserted,
        "closure": len(graph),
        "errors": errors,
        "nothing": nothing,
        "entailedTypes": entailed_type_counts(graph),
    }


def entailed_type_counts(graph):
    import rdflib

    counts = {}
    for cls in ["Entity", "Activity", "Agent", "Role", "Plan"]:
        counts["prov:" + cls] = len(set(graph.subjects(rdflib.RDF.type, rdflib.URIRef(PROV + cls))))
    mls = "http://www.w3.org/ns/mls#"
    for cls in ["Run", "Data", "Model", "ModelEvaluation", "HyperParameterSetting", "InformationEntity", "Process"]:
        counts["mls:" + cls] = len(set(graph.subjects(rdflib.RDF.type, rdflib.URIRef(mls + cls))))
    return counts


def shacl_check(data_path, shapes_path):
    import pyshacl
    import rdflib

    shapes = rdflib.Graph().parse(shapes_path, format="turtle")
    conforms, report, _ = pyshacl.validate(union_graph(data_path), shacl_graph=shapes, inference="none")
    sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
    results = sorted(
        f"{report.value(r, sh.focusNode)} {report.value(r, sh.resultPath)} {report.value(r, sh.sourceConstraintComponent)}"
        for r in report.subjects(rdflib.RDF.type, sh.ValidationResult)
    )
    return {"conforms": bool(conforms), "results": results[:50], "resultCount": len(results)}


def materialised_types(data_path, ontologies):
    """The data with its rdf:types closed under RDFS over the ontologies (owlrl's RDFS closure),
    keeping every entailed rdf:type in a PROV namespace so that the prov package sees each entity,
    activity and agent, and nothing else entailed."""
    import owlrl
    import rdflib

    data = union_graph(data_path)
    graph = with_ontologies(data, ontologies)
    owlrl.DeductiveClosure(owlrl.RDFS_Semantics, axiomatic_triples=False, datatype_axioms=False).expand(graph)
    for s, o in graph.subject_objects(rdflib.RDF.type):
        if str(o) in (PROV + "Entity", PROV + "Activity", PROV + "Agent") and (s, None, None) in data:
            data.add((s, rdflib.RDF.type, o))
    return data


def record_counts(document):
    """Records of a flattened prov document by PROV-N keyword (entity, activity, used, ...)."""
    from prov.constants import PROV_N_MAP

    counts = {}
    for record in document.flattened().get_records():
        key = PROV_N_MAP[record.get_type()]
        counts[key] = counts.get(key, 0) + 1
    return counts


def prov_rdf(data_path, ontologies):
    import prov.model

    data = materialised_types(data_path, ontologies)
    document = prov.model.ProvDocument.deserialize(content=data.serialize(format="nt"), format="rdf", rdf_format="nt")
    ids = {kind: sorted(str(r.identifier) for r in document.flattened().get_records() if r.get_type().localpart == kind) for kind in ("Entity", "Activity", "Agent")}
    return {"counts": record_counts(document), "identifiers": {k: len(v) for k, v in ids.items()}}


def prov_docs(json_path, provn_path):
    import prov.model

    with open(json_path, "rb") as f:
        from_json = prov.model.ProvDocument.deserialize(f, format="json")
    with open(provn_path, "rb") as f:
        from_provn = prov.model.ProvDocument.deserialize(f, format="provn", profile="strict")
    return {
        "json": record_counts(from_json),
        "provn": record_counts(from_provn),
        "equal": from_json == from_provn,
        "roundTrip": prov.model.ProvDocument.deserialize(content=from_json.serialize(format="json"), format="json") == from_json,
    }


def main(argv):
    command, *args = argv
    if command == "modules":
        result = {name.split(".")[0]: module_found(name) for name in PACKAGES}
    elif command == "owlrl":
        result = owlrl_check(args[0], args[1:])
    elif command == "shacl":
        result = shacl_check(args[0], args[1])
    elif command == "prov-rdf":
        result = prov_rdf(args[0], args[1:])
    elif command == "prov-docs":
        result = prov_docs(args[0], args[1])
    else:
        raise SystemExit(f"unknown command {command}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
