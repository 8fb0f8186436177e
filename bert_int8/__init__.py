"""The BERT int8 pipeline, in rooms by concern. Each imports only the rooms below it:

    core < stats < data < model < backends < train < quantize < measure < serve < score < report < cli

(tests/test_layers.py keeps it so). The stage scripts in stages/ each call one function here.
"""
