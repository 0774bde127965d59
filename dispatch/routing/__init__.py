"""Travel times from outside the pure core: the engines that time a call's candidates.

`TravelTimes` (dispatch.routing.travel) is the one interface; a second routing engine is a
new class there, chosen by `travel_times(settings)`, not a branch in a flow.
"""

from dispatch.routing.travel import (
    EtaModelTimes,
    RoutedTimes,
    StraightLineTimes,
    TravelTimes,
    travel_times,
)

__all__ = ["EtaModelTimes", "RoutedTimes", "StraightLineTimes", "TravelTimes", "travel_times"]
