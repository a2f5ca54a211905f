"""Scraping greenh2's operations listener (`--metrics-bind`) with prometheus_client's own
text-format parser, for tests that check counters moved by known amounts."""
import re
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

METRICS_RE = r"Metrics at: (http://\S+)"


def metrics_url(server):
    """The /metrics URL a greenh2 ServerProcess announced on stderr."""
    line = server.wait_for_stderr(METRICS_RE, timeout=10)
    assert line, "no 'Metrics at:' line:\n" + server.stderr_text()[-3000:]
    return re.search(METRICS_RE, line).group(1)


def get(url, timeout=5.0):
    """(status, body text) of a GET; HTTP errors are answers, not exceptions."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class Samples:
    """Every sample of one scrape: value(name, **labels) sums the samples whose labels
    include the given ones (so value("greenh2_requests_total", protocol="h2") is all h2)."""

    def __init__(self, text):
        self.samples = []
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                self.samples.append((s.name, dict(s.labels), s.value))

    def value(self, name, **labels):
        return sum(v for n, lab, v in self.samples
                   if n == name and all(lab.get(k) == str(w) for k, w in labels.items()))

    def names(self):
        return {n for n, _, _ in self.samples}

    def label_values(self, name, label):
        return {lab.get(label) for n, lab, _ in self.samples if n == name}


def scrape(url):
    status, text = get(url)
    assert status == 200, (status, text[:500])
    return Samples(text)


def delta(before, after, name, **labels):
    return after.value(name, **labels) - before.value(name, **labels)


def settled(url, timeout=5.0):
    """A scrape once no connection or stream is open any more: connection teardown (which also
    hands the request tallies to prometheus_client) runs after the client has its answer."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        s = scrape(url)
        if (s.value("greenh2_connections") == 0 and s.value("greenh2_streams_active") == 0) \
                or time.monotonic() > deadline:
            return s
        time.sleep(0.1)
