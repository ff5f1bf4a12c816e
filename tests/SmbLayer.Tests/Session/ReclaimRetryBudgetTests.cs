using SmbLayer.Session;

namespace SmbLayer.Tests.Session;

/// <summary>The recovery's patience with a server still letting go of the old connection, on a clock the test moves.</summary>
public class ReclaimRetryBudgetTests
{
    private long _now = 1_000_000;

    private ReclaimRetryBudget NewBudget(TimeSpan? total = null) => new(total ?? ReclaimRetryBudget.DefaultTotal, () => _now);

    /// <summary>Takes a handle's delays until the budget says no, waiting each one out on the test clock.</summary>
    private List<int> Drain(ReclaimRetryBudget.Backoff handle)
    {
        var delays = new List<int>();
        for (var i = 0; i < 1000 && handle.NextDelay() is { } d; i++)
        {
            delays.Add((int)d.TotalMilliseconds);
            _now += (long)d.TotalMilliseconds;
        }
        return delays;
    }

    [Fact]
    public void OneHandle_DoublesFrom100msUpTo800ms_ThreeSecondsInAll_ThenNull()
    {
        var delays = Drain(NewBudget().ForHandle());
        Assert.Equal([100, 200, 400, 800, 800, 700], delays);
        Assert.Equal(3000, delays.Sum());
    }

    [Fact]
    public void Shared_AHandleRefusedLater_HasOnlyWhatIsLeft_NotAFreshBudget()
    {
        // One recovery, several handles: after 0.3 s of refusals for the first, a second refused handle backs off on
        // its own (from 100 ms) but shares the deadline 3 s after the first refusal.
        var budget = NewBudget();
        var first = budget.ForHandle();
        Assert.Equal(TimeSpan.FromMilliseconds(100), first.NextDelay());
        _now += 100;
        Assert.Equal(TimeSpan.FromMilliseconds(200), first.NextDelay());
        _now += 200;
        var rest = Drain(budget.ForHandle());
        Assert.Equal([100, 200, 400, 800, 800, 400], rest);
        Assert.Equal(2700, rest.Sum());
    }

    [Fact]
    public void Parallel_HandlesWaitingAtTheSameTime_DoNotUseUpEachOthersPatience()
    {
        // 64 handles refused at once, each waiting 100 ms, take 100 ms of the recovery's 3 s, not 6.4 s.
        var budget = NewBudget();
        var handles = Enumerable.Range(0, 64).Select(_ => budget.ForHandle()).ToList();
        Assert.All(handles, h => Assert.Equal(TimeSpan.FromMilliseconds(100), h.NextDelay()));
        _now += 100;
        Assert.All(handles, h => Assert.Equal(TimeSpan.FromMilliseconds(200), h.NextDelay()));
    }

    [Fact]
    public void PastTheDeadline_NoMoreRetries()
    {
        var budget = NewBudget();
        Assert.NotNull(budget.ForHandle().NextDelay());
        _now += 3000;
        Assert.Null(budget.ForHandle().NextDelay());
    }

    [Fact]
    public void ZeroBudget_NoRetry()
    {
        Assert.Null(NewBudget(TimeSpan.Zero).ForHandle().NextDelay());
    }
}
