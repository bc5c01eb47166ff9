using System.Diagnostics;
using System.Runtime.InteropServices;
using static TorchSharp.torch;
_ = ones(1);
if (args.Length > 0 && args[0] == "patch") Console.WriteLine("patch: " + Rlhf.Modeling.MklCpuDispatch.Apply());
set_num_threads(2);
foreach (var (m, k, nn) in new[] { (1, 128, 128), (1, 128, 384), (1, 384, 128), (16, 128, 128), (16, 128, 384), (16, 384, 128), (64, 128, 384), (16, 128, 260) })
{
    var xx = randn(m, k); var wgt = randn(nn, k); var colMajor = randn(k, nn).t();
    double Time(Func<Tensor> f) { f().Dispose(); var best = double.MaxValue; for (int r = 0; r < 7; r++) { var w = Stopwatch.StartNew(); int it = 2000; for (int i = 0; i < it; i++) f().Dispose(); best = Math.Min(best, w.Elapsed.TotalSeconds / it); } return best * 1e6; }
    Console.WriteLine($"{m}x{k}x{nn}: row-major {Time(() => TorchSharp.torch.nn.functional.linear(xx, wgt)):F1} us  col-major {Time(() => TorchSharp.torch.nn.functional.linear(xx, colMajor)):F1} us");
}
