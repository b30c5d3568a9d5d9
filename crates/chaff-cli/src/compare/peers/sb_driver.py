#!/usr/bin/env python3
"""(Carried by chaff compare, from the shared peer harness's sb/sb_driver.py; written to the
run's work folder and run with the sbclassifier venv's python.)
SpamBayes-classifier peer via the `sbclassifier` package (PyPI 0.1.1: SpamBayes'
chi-squared classifier core ported to Python 3). NOTE: sbclassifier ships only a text
tokenizer; the message tokenizer below is a simplified SpamBayes-style one (header
tokens with prefixes, text/* parts, crude HTML stripping, url pieces), NOT the full
SpamBayes tokenizer. Real SpamBayes 1.1 is Python-2 only.
usage: sb_driver.py train DB CORPUS TSV | classify DB CORPUS TSV OUT | trec CORPUS TSV OUT"""
import email, email.policy, pickle, re, sys
from sbclassifier import Classifier, ClassifierDb, tokenize_text

TAG = re.compile(r"<[^>]*>")
URL = re.compile(r"https?://([^\s/\"'<>]+)([^\s\"'<>]*)", re.I)
HDRS = ("subject", "from", "to", "cc", "reply-to", "content-type", "x-mailer", "user-agent")

def tokens(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    for h in HDRS:
        for v in msg.get_all(h) or []:
            for t in tokenize_text(str(v)):
                yield "%s:%s" % (h, t)
    for v in msg.get_all("received") or []:
        for d in re.findall(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+", str(v).lower()):
            yield "received:" + d
    n_parts = 0
    for part in msg.walk():
        ct = part.get_content_type()
        if part.get_content_maintype() != "text":
            if not part.is_multipart():
                yield "content-type:" + ct
            continue
        n_parts += 1
        try:
            payload = part.get_payload(decode=True) or b""
            text = payload.decode(part.get_content_charset() or "latin-1", "replace")
        except (LookupError, ValueError):
            text = (part.get_payload(decode=True) or b"").decode("latin-1", "replace")
        for host, path in URL.findall(text):
            for piece in host.lower().split("."):
                yield "url:" + piece
            for piece in re.split(r"[/?&=.#_-]+", path.lower()):
                if piece:
                    yield "url:" + piece
        if ct == "text/html":
            text = TAG.sub(" ", text)
        yield from tokenize_text(text)
    yield "nparts:%d" % n_parts

def read(corpus, rel):
    with open("%s/%s" % (corpus, rel), "rb") as fh:
        return fh.read()

def items(tsv):
    for ln in open(tsv):
        label, rel = ln.rstrip("\n").split("\t", 1)
        yield label, rel

def main(a):
    if a[1] == "train":
        db = ClassifierDb(); c = Classifier(db)
        for label, rel in items(a[4]):
            c.learn(tokens(read(a[3], rel)), label == "spam")
        with open(a[2], "wb") as fh:
            pickle.dump(db, fh, protocol=pickle.HIGHEST_PROTOCOL)
    elif a[1] == "classify":
        with open(a[2], "rb") as fh:
            c = Classifier(pickle.load(fh))
        with open(a[5], "w") as out:
            for label, rel in items(a[4]):
                out.write("%s\t%s\t%.17g\n" % (rel, label, c.spamprob(tokens(read(a[3], rel)))))
    elif a[1] == "trec":
        c = Classifier(ClassifierDb())
        with open(a[4], "w") as out:
            for label, rel in items(a[3]):
                toks = list(tokens(read(a[2], rel)))
                out.write("%s\t%s\t%.17g\n" % (rel, label, c.spamprob(toks)))
                c.learn(toks, label == "spam")
    else:
        raise SystemExit(__doc__)

if __name__ == "__main__":
    main(sys.argv)
