from bert_int8.model.metrics import classification_metrics, confusion_rows, drops_against


def test_macro_metrics_differ_from_micro():
    labels = [0, 0, 0, 0, 1, 1]
    preds = [0, 0, 0, 0, 0, 1]
    m = classification_metrics(labels, preds, ["a", "b"])
    assert m["accuracy"] == round(5 / 6, 4)
    # class a: P=4/5 R=1 ; class b: P=1 R=1/2
    assert m["macro_precision"] == round((0.8 + 1) / 2, 4)
    assert m["macro_recall"] == 0.75
    assert m["per_class"]["b"] == {"precision": 1.0, "recall": 0.5, "f1": round(2 / 3, 4), "support": 2}
    assert m["macro_f1"] != m["accuracy"]


def test_drops_against_and_confusion_rows():
    a = classification_metrics([0, 1, 1], [0, 1, 1], ["a", "b"])
    b = classification_metrics([0, 1, 1], [0, 0, 1], ["a", "b"])
    c = drops_against(a, b, [0, 1, 1], [0, 0, 1])
    assert c["prediction_agreement"] == round(2 / 3, 4)
    assert c["accuracy_drop"] == round(1 / 3, 4)
    assert c["macro_f1_drop"] > 0
    assert confusion_rows([0, 1], [1, 1], ["a", "b"]) == "actual,predicted\na,b\nb,b\n"
