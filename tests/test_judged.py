"""The LLM-judged benchmarks (arenahardwriting, healthbench) and the judge client, on the real rows
of PostTrainBench's data (beside the project in ../shared, laid out as PTB_DATA_DIR by the
`reference_data` fixture) and a real HTTP server that speaks the OpenAI chat-completions protocol
and judges by fixed rules, with failures on request. Judge prompts are checked against the
reference's own files and functions (read from the offline copy and run here)."""

from __future__ import annotations

import ast
import json
import random
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from conftest import SHARED_DATA, ptb
from ptb.eval import evaluation, judge
from ptb.benchmarks import arenahardwriting as arena
from ptb.benchmarks import healthbench as hb

QUESTIONS = SHARED_DATA / "arenahardwriting_questions.jsonl"
ANSWERS = SHARED_DATA / "arenahardwriting_reference_answers_qwen3-1.7b.jsonl"
HEALTH = SHARED_DATA / "healthbench_easy.jsonl"
CODE = SHARED_DATA / "reference-9082063" / "src" / "eval" / "tasks"


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def in_reference_order(rows: list[dict]) -> list[dict]:
    """As the reference's evaluate.py orders its items before taking --limit."""
    rows = list(rows)
    random.Random(42).shuffle(rows)
    return rows


def reference_code(path: Path, *names: str) -> dict:
    """Constants and functions of a reference file, run here (the file itself needs packages ptb does not)."""
    tree = ast.parse(path.read_text())
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.Assign) and
            (getattr(n, "name", None) in names or any(getattr(t, "id", None) in names for t in getattr(n, "targets", [])))]
    namespace = {"re": re, "json": json, "Optional": object, "Iterable": object, "List": list,
                 "logger": __import__("logging").getLogger("reference")}
    exec(compile(ast.Module(keep, type_ignores=[]), str(path), "exec"), namespace)
    return namespace


@pytest.fixture
def data_dir(reference_data) -> Path:
    return reference_data


# ---- the stand-in judge --------------------------------------------------------------------------

def arena_rule(a: str, b: str) -> str:
    """The test judge prefers the longer answer; twice as long or more is 'significantly'."""
    if len(a) >= 2 * len(b):
        return "A>>B"
    if len(b) >= 2 * len(a):
        return "B>>A"
    return "A>B" if len(a) > len(b) else "B>A" if len(b) > len(a) else "A=B"


def health_rule(response: str, criterion: str) -> bool:
    return criterion[:30] in response


class JudgeServer:
    """Answers by the rules above; a marker in the judged answer asks for a failure:
    @FAIL500 (always HTTP 500), @FLAKY (500 on the first request, then fine), @GARBLE (no verdict),
    @GARBLEONCE (no verdict on the first request), @SLOW (slower than the client's timeout),
    @NOTJSON (HTTP 200 with a body that is not JSON), @BAD400 (HTTP 400)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.seen: Counter = Counter()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, payload, delay = server.answer(self.path, self.headers.get("Authorization"), body)
                time.sleep(delay)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # all concurrent requests get through: the counts below are exact

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, path: str, auth: str | None, body: dict) -> tuple[int, object, float]:
        prompt = body["messages"][-1]["content"]
        with self.lock:
            self.requests.append({"path": path, "auth": auth, **body})
            self.seen[prompt] += 1
            first = self.seen[prompt] == 1
        if "# Rubric item" in prompt:
            judged = prompt.split("# Rubric item")[0].rsplit("\n\nassistant: ", 1)[1]
        else:
            judged = prompt
        if "@FAIL500" in judged or ("@FLAKY" in judged and first):
            return 500, {"error": "boom"}, 0
        if "@SLOW" in judged:
            return 200, self.completion("[[A=B]]"), 6.0
        if "@NOTJSON" in judged:
            return 200, b"<html>gateway</html>", 0
        if "@BAD400" in judged:
            return 400, {"error": {"message": "bad request"}}, 0
        if "@GARBLE" in judged and ("@GARBLEONCE" not in judged or first):
            return 200, self.completion("I cannot decide."), 0
        if "# Rubric item" in prompt:
            criterion = re.search(r"# Rubric item\n\[-?\d+\] (.*?)\n\n# Instructions", prompt, re.S).group(1)
            met = health_rule(judged, criterion)
            text = f'```json\n{{"explanation": "rule", "criteria_met": {json.dumps(met)}}}\n```'
        else:
            a = prompt.split("<|The Start of Assistant A's Answer|>\n")[1].split("\n<|The End of Assistant A's")[0]
            b = prompt.split("<|The Start of Assistant B's Answer|>\n")[1].split("\n<|The End of Assistant B's")[0]
            # Decoy labels first: only the last one counts.
            text = f"Weighing [[A>>B]] against [B>A]... My final verdict: [[{arena_rule(a, b)}]]"
        return 200, self.completion(text), 0

    @staticmethod
    def completion(text: str) -> dict:
        return {"id": "x", "object": "chat.completion", "model": "rule-judge",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch, data_dir):
    s = JudgeServer()
    for name in ("OPENAI_API_KEY", "PTB_JUDGE_API_KEY", "PTB_JUDGE_REASONING_EFFORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PTB_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PTB_JUDGE_BASE_URL", s.url)
    monkeypatch.setenv("PTB_JUDGE_MODEL", "rule-judge")
    monkeypatch.setenv("PTB_JUDGE_API_KEY", "sk-test")
    monkeypatch.setenv("PTB_JUDGE_TIMEOUT", "2")  # generous: a loaded CI host must not time out by accident
    monkeypatch.setenv("PTB_JUDGE_RETRIES", "2")
    monkeypatch.setenv("PTB_JUDGE_BACKOFF", "0.01")
    monkeypatch.setenv("PTB_JUDGE_WORKERS", "8")
    yield s
    s.close()


# ---- data: schemas and the Easy filter -------------------------------------------------------------

def test_real_rows_schemas_and_loading(data_dir, monkeypatch):
    monkeypatch.setenv("PTB_DATA_DIR", str(data_dir))
    questions, answers = arena.load("test"), read(ANSWERS)
    assert questions == in_reference_order(read(QUESTIONS))
    assert len(questions) == 250 and {q["category"] for q in questions} == {"creative_writing"}
    assert {q["uid"] for q in questions} == {a["uid"] for a in answers}
    assert all(a["model"] == "Qwen3-1.7B" and isinstance(a["messages"][-1]["content"]["answer"], str) for a in answers)
    sample = arena.to_sample(questions[1], 1)
    by_uid = {a["uid"]: a["messages"][-1]["content"]["answer"] for a in answers}
    assert sample.messages == [{"role": "user", "content": questions[1]["prompt"]}]
    assert sample.target == by_uid[questions[1]["uid"]]

    rows = hb.load("test")
    assert rows == in_reference_order(read(HEALTH))
    assert len(rows) == 245
    for i, row in enumerate(rows):
        s = hb.to_sample(row, i)
        assert s.messages == row["prompt"] and s.messages[-1]["role"] == "user"
        assert all({"criterion", "points", "tags"} <= c.keys() for c in s.metadata["rubrics"])
    with pytest.raises(ValueError, match="only a 'test' split"):
        hb.load("train")


def test_easy_filter_keeps_every_real_row_and_drops_what_it_should():
    rows = read(HEALTH)
    assert all(hb.is_easy(r) for r in rows)

    base = {"prompt": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}] * 2
            + [{"role": "user", "content": "q"}],
            "rubrics": [{"criterion": "c", "points": 5, "tags": ["axis:completeness"]},
                        {"criterion": "n1", "points": -3, "tags": ["axis:accuracy"]},
                        {"criterion": "n2", "points": -1, "tags": ["axis:accuracy"]}]}
    assert hb.is_easy(base)  # the boundaries: exactly 5 messages, exactly 2 negative criteria
    assert not hb.is_easy(base | {"prompt": base["prompt"][1:]})  # 4 messages
    assert not hb.is_easy(base | {"rubrics": [c | {"tags": ["axis:accuracy"]} for c in base["rubrics"]]})
    third = {"criterion": "n3", "points": -2, "tags": ["axis:accuracy"]}
    assert not hb.is_easy(base | {"rubrics": base["rubrics"] + [third]})  # 3 negative criteria


def test_easy_filter_rejects_a_wrong_data_file(tmp_path, monkeypatch):
    repo = tmp_path / "aisa-group" / "PostTrainBench"
    (repo / hb.DATA_FILE).parent.mkdir(parents=True)
    single_turn = read(HEALTH)[0] | {"prompt": [{"role": "user", "content": "hi"}]}
    (repo / hb.DATA_FILE).write_text(json.dumps(single_turn) + "\n")
    monkeypatch.setenv("PTB_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="fail the Easy filter"):
        hb.load("test")


# ---- judge prompts and scores ------------------------------------------------------------------------

def arena_outputs(refs: list[str]) -> list[str]:
    """Recorded outputs that make the rule judge give every kind of verdict."""
    return [refs[0] * 3,  # strongly better in both orders
            "Too short.",  # strongly worse
            refs[2],  # a tie
            refs[3] + "!" * 10,  # slightly better
            "<think>plan the poem</think>\n" + refs[4][: len(refs[4]) * 2 // 3],  # thinking dropped, slightly worse
            "Nope."]


def judged_text(output: str) -> str:
    """What the judge should see: the output without a leading <think>...</think> block."""
    output = output.strip()
    if output.startswith("<think>") and "</think>" in output:
        return output[output.index("</think>") + len("</think>"):].strip()
    return output


def expected_arena(outputs: list[str], refs: list[str]) -> tuple[list[float], float]:
    votes_for_a = {"A>>B": [1, 1, 1], "A>B": [1], "A=B": [0.5], "B>A": [0], "B>>A": [0, 0, 0]}
    per_sample, everything = [], []
    for out, ref in zip(outputs, refs):
        out = judged_text(out)
        votes = [1 - v for v in votes_for_a[arena_rule(ref, out)]] + votes_for_a[arena_rule(out, ref)]
        per_sample.append(sum(votes) / len(votes))
        everything += votes
    return per_sample, sum(everything) / len(everything)


def test_arena_scores_equal_an_independent_computation(server):
    questions, answers = read(QUESTIONS)[:6], {a["uid"]: a for a in read(ANSWERS)}
    refs = [answers[q["uid"]]["messages"][-1]["content"]["answer"] for q in questions]
    outputs = arena_outputs(refs)
    bench = evaluation.benchmark("arenahardwriting")
    result = evaluation.score_outputs(bench, evaluation.samples_for(bench, questions), outputs)

    per_sample, total = expected_arena(outputs, refs)
    assert [r["score"] for r in result.records] == pytest.approx(per_sample)
    assert per_sample == pytest.approx([1, 0, 0.5, 1, 0, 0]) and result.n == 6
    assert result.score == pytest.approx(total) and total != pytest.approx(sum(per_sample) / 6)  # 3x weights
    assert result.metrics | {"judge_base_url": None} == {
        "judge_model": "rule-judge", "judge_base_url": None, "judge_calls": 12, "judge_failed": 0, "judge_unparsed": 0}

    # The judge saw each pair in both orders, the reference answer first as A, with the request the reference makes.
    # The reference's system prompt, user-prompt template and request (its files, read here independently).
    settings = reference_code(CODE / "arenahardwriting/evaluation_code/utils/judge_utils.py",
                              "OG_ARENA_HARD_PROMPT", "JUDGE_SETTINGS")["JUDGE_SETTINGS"]["creative_writing"]
    config = yaml.safe_load((CODE / "arenahardwriting/evaluation_code/config/arena-hard-v2.0.yaml").read_text())
    assert len(server.requests) == 12
    for req in server.requests:
        assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
        assert req["model"] == "rule-judge" and req["reasoning_effort"] == "medium" and "temperature" not in req
        assert req["max_completion_tokens"] == 49152
        assert req["messages"][0] == {"role": "system", "content": settings["system_prompt"]}
    users = {r["messages"][1]["content"] for r in server.requests}
    for q, ref, out in zip(questions, refs, outputs):
        out = judged_text(out)
        for a, b in ((ref, out), (out, ref)):
            assert config["prompt_template"].format(QUESTION=q["prompt"], ANSWER_A=a, ANSWER_B=b) in users


def test_arena_verdicts_read_as_the_reference_reads_them():
    get_score = reference_code(CODE / "arenahardwriting/evaluate.py", "get_score")["get_score"]
    patterns = yaml.safe_load((CODE / "arenahardwriting/evaluation_code/config/arena-hard-v2.0.yaml")
                              .read_text())["regex_patterns"]
    for text in ("Verdict: [[A>B]]", "first [[B>>A]], finally [[a=b]]", "only [B>A] here", "[[A>B]] and [B>>A]",
                 "[[]] then [[B>A]]", "no label at all", "[A>>B]\n[[A<B]]", "[[A>B\n]]"):
        want = get_score(text, patterns)
        assert arena.verdict_label(text) == want, text
    assert get_score("[[AB]]", patterns) == "AB" and arena.verdict_label("[[AB]]") is None  # no label: unparsed


def test_arena_failures_are_counted_not_zero(server):
    questions = read(QUESTIONS)[:7]
    long_answer = " ".join(map(str, range(2000)))  # wins, and has no loop to cut
    outputs = ["@FAIL500", "@FLAKY " + long_answer, "@GARBLE", "@SLOW", "@NOTJSON", "@BAD400", "fine"]
    bench = evaluation.benchmark("arenahardwriting")
    result = evaluation.score_outputs(bench, evaluation.samples_for(bench, questions), outputs)

    scored = {r["index"]: r["score"] for r in result.records if r["score"] is not None}
    assert sorted(scored) == [1, 6]  # @FLAKY recovered by a retry
    summary = result.summary()
    assert summary["unscored"] == [0, 2, 3, 4, 5] and summary["n"] == 2
    assert [s["index"] for s in summary["samples"]] == [1, 6]
    assert (summary["judge_calls"], summary["judge_failed"], summary["judge_unparsed"]) == (14, 8, 2)
    assert "failed: HTTP 500" in result.records[0]["explanation"]
    assert "ReadTimeout" in result.records[3]["explanation"]
    assert "HTTP 400" in result.records[5]["explanation"]
    refs = [arena.to_sample(q, i).target for i, q in enumerate(questions)]
    assert result.score == pytest.approx(expected_arena([outputs[1], outputs[6]], [refs[1], refs[6]])[1])

    tries = Counter()
    for req in server.requests:
        marker = next((m for m in ("@FAIL500", "@FLAKY", "@GARBLE", "@SLOW", "@NOTJSON", "@BAD400")
                       if m in req["messages"][1]["content"]), "fine")
        tries[marker] += 1
    # Two games each: errors are retried (1 + PTB_JUDGE_RETRIES), a 400 and an answer without a verdict are not.
    assert tries == {"@FAIL500": 6, "@FLAKY": 4, "@GARBLE": 2, "@SLOW": 6, "@NOTJSON": 6, "@BAD400": 2, "fine": 2}


def test_healthbench_scores_equal_an_independent_computation(server):
    rows = read(HEALTH)[:4]
    # Each output quotes some of its own criteria, so the rule judge finds those met.
    picks = [[0, 1], [], "all", "negative"]
    outputs = []
    for row, pick in zip(rows, picks):
        crits = row["rubrics"]
        chosen = (range(len(crits)) if pick == "all"
                  else [k for k, c in enumerate(crits) if c["points"] < 0] if pick == "negative" else pick)
        outputs.append("Answer: " + " ".join(crits[k]["criterion"] for k in chosen))
    assert any(c["points"] < 0 for c in rows[3]["rubrics"])
    bench = evaluation.benchmark("healthbench")
    result = evaluation.score_outputs(bench, evaluation.samples_for(bench, rows), outputs)

    expected = []
    for row, out in zip(rows, outputs):
        met = sum(c["points"] for c in row["rubrics"] if health_rule(out, c["criterion"]))
        expected.append(met / sum(c["points"] for c in row["rubrics"] if c["points"] > 0))
    assert expected[3] < 0  # a sample can score below 0, as in HealthBench
    assert [r["score"] for r in result.records] == pytest.approx(expected)
    assert result.score == pytest.approx(min(1, max(0, sum(expected) / 4)))
    assert 0 < result.stderr < 1
    n_criteria = sum(len(r["rubrics"]) for r in rows)
    assert (result.metrics["judge_calls"], result.metrics["judge_failed"], result.metrics["judge_unparsed"]) == \
        (n_criteria, 0, 0)

    # One request per criterion, built as the reference's grader.py builds it (its own code, run here).
    grader = reference_code(CODE / "healthbench/evaluation_code/grader.py", "GRADER_TEMPLATE",
                            "format_conversation_for_grader", "format_rubric_item")
    prompts = [r["messages"][0]["content"] for r in server.requests]
    assert len(prompts) == n_criteria and all(len(r["messages"]) == 1 for r in server.requests)
    assert all(r["max_completion_tokens"] == 512 and r["temperature"] == 0 for r in server.requests)  # not gpt-5
    for row, out in zip(rows, map(judge.judged_answer, outputs)):  # the answer as the judge gets it
        for c in row["rubrics"]:
            want = grader["GRADER_TEMPLATE"].replace(
                "<<conversation>>", grader["format_conversation_for_grader"](row["prompt"], out)).replace(
                "<<rubric_item>>", grader["format_rubric_item"](c["criterion"], c["points"]))
            assert hb.grader_prompt(row["prompt"], out, c) == want and want in prompts
    assert hb.request_settings("gpt-5-mini") == {"max_tokens": 49152}


def test_grades_parse_as_the_reference_parses_them():
    parse = reference_code(CODE / "healthbench/evaluation_code/grader.py", "parse_json_to_dict")["parse_json_to_dict"]
    for text in ('```json\n{"explanation": "x", "criteria_met": true}\n```', '{"criteria_met": false}',
                 '```\n{"criteria_met": true}\n```', '  ```json{"criteria_met": "yes"}```', "no json",
                 '```json\n{"criteria_met": 1}\n```', '[true]'):
        d = parse(text)
        want = d["criteria_met"] if isinstance(d, dict) and type(d.get("criteria_met")) is bool else None
        assert hb.parse_grade(text) == want, text


def test_healthbench_mean_is_clipped_and_failures_counted(server):
    rows = [r for r in read(HEALTH) if any(c["points"] < 0 for c in r["rubrics"])][:2]
    negative = ["Answer: " + " ".join(c["criterion"] for c in r["rubrics"] if c["points"] < 0) for r in rows]
    bench = evaluation.benchmark("healthbench")
    result = evaluation.score_outputs(bench, evaluation.samples_for(bench, rows), negative)
    assert all(r["score"] < 0 for r in result.records) and result.score == 0.0

    rows = [r for r in read(HEALTH) if all(c["points"] > 0 for c in r["rubrics"])][:3]
    server.requests.clear()
    # Each output quotes all its criteria (all met, where graded); the markers make grading fail.
    outputs = [f"{marker} Answer: " + " ".join(c["criterion"] for c in r["rubrics"])
               for marker, r in zip(("@GARBLE", "@GARBLEONCE", "@FAIL500"), rows)]
    result = evaluation.score_outputs(bench, evaluation.samples_for(bench, rows), outputs)
    n0, n1, n2 = (len(r["rubrics"]) for r in rows)
    # A criterion whose grading failed counts as not met, as in the reference: the sample still scores.
    assert [r["score"] for r in result.records] == [0.0, 1.0, 0.0]
    assert "unscored" not in result.summary() and result.n == 3
    assert "not met (unparsed" in result.records[0]["explanation"] and "not met (failed" in result.records[2]["explanation"]
    assert (result.metrics["judge_calls"], result.metrics["judge_failed"], result.metrics["judge_unparsed"]) == \
        (n0 + n1 + n2, n2, n0)
    # An answer without a verdict is asked again, API_MAX_RETRY (5) times in all, as grader.py does.
    assert reference_code(CODE / "healthbench/evaluation_code/grader.py", "API_MAX_RETRY")["API_MAX_RETRY"] == 5
    assert len(server.requests) == 5 * n0 + 2 * n1 + 3 * n2


def test_judged_answer_drops_thinking_and_cuts_loops():
    ja = judge.judged_answer
    assert ja("<think>plan</think>\n  The poem.  ") == "The poem."
    assert ja("<think>never closed") == "<think>never closed"
    assert ja("Plain text, once.\n\nTwo lines.") == "Plain text, once.\n\nTwo lines."
    assert ja("la\n" * 8 + "end") == "la\n" * 5 + "end"  # one line repeated
    assert ja("\n".join(["v1", "v2"] * 7 + ["v1", "end"])) == "\n".join(["v1", "v2"] * 5 + ["v1", "end"])
    assert ja("\n".join(["v1", "v2"] * 7 + ["v1"])) == "\n".join(["v1", "v2"] * 5)  # a cut-off copy goes too
    chorus = ["Oh the night", "we ride"]
    assert ja("\n".join(chorus * 9 + ["Oh the ni"])) == "\n".join(chorus * 5)
    assert ja("ab " * 10) == "ab " * 5 + "ab"  # a substring of >= 3 characters, within one line
    unit = "The quick brown fox jumps over the dog. "  # 40 characters: the 30-60 band
    assert ja(unit * 7) == unit * 5 + unit.strip()


def test_judge_sees_the_cut_answer(server):
    question = read(QUESTIONS)[:1]
    looping = "Verse one.\n" + "I sing and sing\n" * 40 + "The end."
    bench = evaluation.benchmark("arenahardwriting")
    evaluation.score_outputs(bench, evaluation.samples_for(bench, question), [looping])
    cut = "Verse one.\n" + "I sing and sing\n" * 5 + "The end."
    assert all(f"Answer|>\n{cut}\n<|The End" in r["messages"][1]["content"] for r in server.requests)


def test_judge_config_from_environment(monkeypatch):
    for name in ("OPENAI_API_KEY", "PTB_JUDGE_API_KEY", "PTB_JUDGE_BASE_URL", "PTB_JUDGE_MODEL", "PTB_JUDGE_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(judge.JudgeNotConfigured, match="PTB_JUDGE_API_KEY.*PTB_JUDGE_BASE_URL"):
        judge.from_env()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    config = judge.from_env()
    assert (config.base_url, config.model, config.api_key) == ("https://api.openai.com/v1", "gpt-5-mini", "sk-x")
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("PTB_JUDGE_BASE_URL", "http://localhost:8000/v1/")  # a keyless local vLLM server
    config = judge.from_env()
    assert (config.base_url, config.api_key) == ("http://localhost:8000/v1", None)
    monkeypatch.setenv("PTB_JUDGE_WORKERS", "many")
    with pytest.raises(judge.JudgeNotConfigured, match="PTB_JUDGE_WORKERS"):
        judge.from_env()


# ---- the command line --------------------------------------------------------------------------------

def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_ptb_score_arena_and_healthbench_against_the_server(server, tmp_path):
    questions = read(QUESTIONS)[:6]
    refs = [arena.to_sample(q, i).target for i, q in enumerate(questions)]
    outputs = arena_outputs(refs)
    rows = write_jsonl(tmp_path / "rows.jsonl", questions)
    responses = write_jsonl(tmp_path / "out.jsonl", [{"index": i, "output": o} for i, o in enumerate(outputs)])
    res = ptb("score", "arenahardwriting", "--dataset", rows, "--responses", responses,
              "--json-output-file", tmp_path / "s.json")
    assert res.returncode == 0, res.stderr
    got = json.loads((tmp_path / "s.json").read_text())
    per_sample, total = expected_arena(outputs, refs)
    assert got["score"] == pytest.approx(total) and got["n"] == 6
    assert [s["score"] for s in got["samples"]] == pytest.approx(per_sample)
    assert (got["judge_calls"], got["judge_failed"], got["judge_unparsed"]) == (12, 0, 0)

    health = read(HEALTH)[5:7]
    outputs = ["Answer: " + health[0]["rubrics"][0]["criterion"], "@FAIL500 " + health[1]["rubrics"][0]["criterion"]]
    res = ptb("score", "healthbench", "--dataset", write_jsonl(tmp_path / "h.jsonl", health),
              "--responses", write_jsonl(tmp_path / "ho.jsonl", [{"index": i, "output": o}
                                                                   for i, o in enumerate(outputs)]))
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    c = health[0]["rubrics"]
    want = (sum(x["points"] for x in c if health_rule(outputs[0], x["criterion"]))
            / sum(x["points"] for x in c if x["points"] > 0))
    assert got["score"] == pytest.approx(max(0.0, want / 2)) and got["n"] == 2 and "unscored" not in got
    assert got["judge_failed"] == len(health[1]["rubrics"]) and got["judge_calls"] == len(c) + len(health[1]["rubrics"])

    wrong = write_jsonl(tmp_path / "gsm8k.jsonl", [{"question": "1+1?", "answer": "#### 2"}])
    for bench in ("arenahardwriting", "healthbench"):
        res = ptb("score", bench, "--dataset", wrong, "--responses", write_jsonl(tmp_path / "o.jsonl", [
            {"index": 0, "output": "2"}]))
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "row 0: needs" in res.stderr


def test_no_judge_configured_is_a_one_line_error(tmp_path, monkeypatch, data_dir, tiny_model):
    for name in ("OPENAI_API_KEY", "PTB_JUDGE_API_KEY", "PTB_JUDGE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PTB_DATA_DIR", str(data_dir))
    rows = write_jsonl(tmp_path / "rows.jsonl", read(HEALTH)[:1])
    responses = write_jsonl(tmp_path / "out.jsonl", [{"index": 0, "output": "see a doctor"}])
    for res in (ptb("score", "healthbench", "--dataset", rows, "--responses", responses),
                ptb("eval", "--model", tiny_model, "--benchmark", "arenahardwriting", "--engine", "transformers")):
        assert res.returncode != 0 and res.stdout == ""
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "no LLM judge configured" in lines[0] and "PTB_JUDGE_BASE_URL" in lines[0]


def test_ptb_eval_with_tiny_model(server, tmp_path, tiny_model):
    for bench in ("arenahardwriting", "healthbench"):
        res = ptb("eval", "--model", tiny_model, "--benchmark", bench, "--limit", "2", "--engine", "transformers",
                  "--max-tokens", "16", "--json-output-file", tmp_path / f"{bench}.json",
                  "--samples-file", tmp_path / f"{bench}.jsonl")
        assert res.returncode == 0, res.stderr
        got = json.loads((tmp_path / f"{bench}.json").read_text())
        records = read(tmp_path / f"{bench}.jsonl")
        outputs = [r["output"] for r in records]
        assert got["n"] == 2 and got["judge_failed"] == got["judge_unparsed"] == 0
        if bench == "arenahardwriting":
            assert got["judge_calls"] == 4
            assert got["score"] == pytest.approx(expected_arena(outputs, [r["target"] for r in records])[1])
        else:
            rows = in_reference_order(read(HEALTH))[:2]
            assert got["judge_calls"] == sum(len(r["rubrics"]) for r in rows)
            values = [sum(c["points"] for c in r["rubrics"] if health_rule(judged_text(o), c["criterion"]))
                      / sum(c["points"] for c in r["rubrics"] if c["points"] > 0) for r, o in zip(rows, outputs)]
            assert got["score"] == pytest.approx(min(1, max(0, sum(values) / 2)))
