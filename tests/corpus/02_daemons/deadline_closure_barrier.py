# why: correct in another style: parent and child meet at a Barrier captured by a closure, so the deadline counts from the moment the child really runs; then terminate, a short join, kill
# %% run_with_deadline
import multiprocessing


def run_with_deadline(target, args, timeout):
    running = multiprocessing.Barrier(2)

    def child():
        running.wait(10)
        target(*args)

    p = multiprocessing.Process(target=child)
    p.start()
    running.wait(10)
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        p.join(0.5)
    if p.is_alive():
        p.kill()
    p.join()
    return p.exitcode
