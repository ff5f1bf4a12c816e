namespace SmbLayer.Client;

/// <summary>
/// The names a listing has returned, kept so that a restart of the scan (a reconnect lost the directory's handle,
/// DESIGN §6) skips them: each name once. A server decides how long a listing is, so what is kept is bounded: a 64-bit
/// fingerprint per name (about 24 bytes in the set, whatever the name's length), at most <c>capacity</c> of them.
/// Past that the listing still streams, but names are no longer tracked (<see cref="Complete"/> turns false), and a
/// restart could not tell which it returned. Fingerprints of different names collide with odds of about n² / 2⁶⁵
/// (10⁻⁷ for a million names); a server could make two collide on purpose, but it could as well leave a name out.
/// </summary>
internal sealed class ReturnedNames(int capacity)
{
    private const ulong FnvOffset = 14695981039346656037;
    private const ulong FnvPrime = 1099511628211;

    private readonly HashSet<ulong> _seen = [];

    /// <summary>Every name returned so far is tracked: a restarted scan can skip them all.</summary>
    public bool Complete { get; private set; } = true;

    /// <summary>Names tracked (at most the capacity).</summary>
    public int Count => _seen.Count;

    /// <summary>True when <paramref name="name"/> was not returned before (as far as tracked): return it.</summary>
    public bool Add(string name)
    {
        var fingerprint = Fingerprint(name);
        if (_seen.Contains(fingerprint))
        {
            return false;
        }
        if (_seen.Count < capacity)
        {
            _seen.Add(fingerprint);
        }
        else
        {
            Complete = false;
        }
        return true;
    }

    /// <summary>FNV-1a over the UTF-16 code units (names compare ordinally), then a 64-bit finaliser to spread the bits.</summary>
    private static ulong Fingerprint(string name)
    {
        var hash = FnvOffset;
        foreach (var c in name)
        {
            hash = (hash ^ (byte)c) * FnvPrime;
            hash = (hash ^ (byte)(c >> 8)) * FnvPrime;
        }
        hash ^= hash >> 33;
        hash *= 0xFF51AFD7ED558CCD;
        hash ^= hash >> 33;
        hash *= 0xC4CEB9FE1A85EC53;
        return hash ^ (hash >> 33);
    }
}
