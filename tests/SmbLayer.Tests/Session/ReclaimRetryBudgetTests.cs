using SmbLayer.Session;

namespace SmbLayer.Tests.Session;

public class ReclaimRetryBudgetTests
{
    private static List<TimeSpan> Drain(ReclaimRetryBudget budget)
    {
        var delays = new List<TimeSpan>();
        for (var i = 0; i < 1000 && budget.NextDelay() is { } d; i++)
        {
            delays.Add(d);
        }
        return delays;
    }

    [Fact]
    public void Default_DoublesFrom100msUpTo800ms_ThreeSecondsInAll_ThenNull()
    {
        var delays = Drain(new ReclaimRetryBudget());
        Assert.Equal([100, 200, 400, 800, 800, 700], delays.Select(d => (int)d.TotalMilliseconds));
        Assert.Equal(TimeSpan.FromSeconds(3), delays.Aggregate(TimeSpan.Zero, (a, b) => a + b));
    }

    [Fact]
    public void Shared_TheNextHandleGoesOnWhereTheLastLeftOff()
    {
        // One recovery, several handles: a handle reclaimed after two refusals leaves 2.7 s; the next handle
        // refused does not start over at 100 ms with a fresh 3 s.
        var budget = new ReclaimRetryBudget();
        Assert.Equal(TimeSpan.FromMilliseconds(100), budget.NextDelay());
        Assert.Equal(TimeSpan.FromMilliseconds(200), budget.NextDelay());
        var rest = Drain(budget);
        Assert.Equal([400, 800, 800, 700], rest.Select(d => (int)d.TotalMilliseconds));
    }

    [Fact]
    public void ZeroBudget_NoRetry()
    {
        Assert.Null(new ReclaimRetryBudget(TimeSpan.Zero).NextDelay());
    }
}
