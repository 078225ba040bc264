from trainer.archive import _one_row_per_epoch


def test_rerun_epochs_are_archived_once_keeping_the_last():
    text = "epoch,loss\n1,0.9\n2,0.8\n3,0.7\n2,0.75\n3,0.65\n4,0.6\n"
    assert _one_row_per_epoch(text) == "epoch,loss\n1,0.9\n2,0.75\n3,0.65\n4,0.6\n"
    assert _one_row_per_epoch("") == ""
